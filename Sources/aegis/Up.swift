// Up.swift — `aegis up` (a hybrid node in the foreground) and `aegis down`.
import ArgumentParser

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a node (hybrid: controller and worker in one process) in the foreground.")
    func run() async throws { throw ValidationError("not implemented yet") }
}

struct Down: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the local node, stopping its agents first.")
    func run() async throws { throw ValidationError("not implemented yet") }
}
