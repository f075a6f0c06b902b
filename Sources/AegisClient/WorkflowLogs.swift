// WorkflowLogs.swift — `aegis workflow logs ID [STEP] [-f]`: the logs of a workflow's step
// workloads through the workload log API (GET /v1/workloads/{id}/logs, SSE), each line prefixed
// with its instance (`[plan] `, `[work 3] `), steps in DAG order as `describe` lists them.
import AegisProtocol

/// Prefixes each complete line of one stream; a partial last line waits for the rest (or `flush`),
/// so lines of concurrently followed instances never interleave mid-line.
public struct LinePrefixer: Sendable {
    public let prefix: String
    var pending = ""

    public init(prefix: String) { self.prefix = prefix }

    /// The complete lines `text` finishes, prefixed (empty while no line is complete).
    public mutating func feed(_ text: String) -> String {
        pending += text
        guard let last = pending.lastIndex(of: "\n") else { return "" }
        let complete = pending[...last]
        pending = String(pending[pending.index(after: last)...])
        return complete.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { prefix + $0 + "\n" }.joined()
    }

    /// The partial last line, prefixed and ended with a newline (empty when there is none).
    public mutating func flush() -> String {
        defer { pending = "" }
        return pending.isEmpty ? "" : prefix + pending + "\n"
    }
}

/// Prints the logs of a workflow's step workloads. Writes go through `write` (stream, text):
/// stdout and stderr of the agents keep their stream; notes (an instance whose logs cannot be
/// read) go to stderr.
public struct WorkflowLogs: Sendable {
    public let client: APIClient
    public let id: String
    /// Only this step's instances; nil for all.
    public let step: String?
    public let write: @Sendable (LogStream, String) -> Void

    public init(client: APIClient, id: String, step: String?, write: @escaping @Sendable (LogStream, String) -> Void) {
        self.client = client
        self.id = id
        self.step = step
        self.write = write
    }

    /// The line prefix of an instance: `[step] ` or `[step item] ` (item 0-based).
    public static func label(_ i: WorkflowInstanceInfo) -> String {
        i.item.map { "[\(i.step) \($0)] " } ?? "[\(i.step)] "
    }

    /// The instances to print, in the order `describe` lists them (DAG order), with a workload.
    /// - Throws: `ClientError` when `step` is set and the workflow has no instance of it.
    public func selected(_ detail: WorkflowDetail, requireStep: Bool) throws -> [(label: String, workload: String)] {
        let instances = detail.instances.filter { step == nil || $0.step == step }
        if requireStep, let step, instances.isEmpty {
            throw ClientError("workflow \(id) has no step \"\(step)\" (or its fan-out has no items yet)")
        }
        return instances.compactMap { i in i.workload.map { (Self.label(i), $0) } }
    }

    /// The logs so far of each instance's last attempt, one instance after the other.
    public func printOnce() async throws {
        let detail = try await client.workflow(id: id)
        for (label, workload) in try selected(detail, requireStep: true) {
            await stream(workload, label: label, follow: false)
        }
    }

    /// Follows every instance's workload (each new attempt's too) until the workflow has ended
    /// and every followed log has; the workflow is looked at again every `poll`.
    public func follow(poll: Duration = .milliseconds(500)) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var followed: Set<String> = []
            while true {
                let detail = try await client.workflow(id: id)
                for (label, workload) in try selected(detail, requireStep: false) where !followed.contains(workload) {
                    followed.insert(workload)
                    group.addTask { await self.stream(workload, label: label, follow: true) }
                }
                if detail.workflow.phase.isFinal { break }
                try await Task.sleep(for: poll)
            }
            try await group.waitForAll()
        }
    }

    /// One workload's log, prefixed line by line; a log that cannot be read is noted on stderr.
    func stream(_ workload: String, label: String, follow: Bool) async {
        var out = LinePrefixer(prefix: label)
        var err = LinePrefixer(prefix: label)
        do {
            for try await (stream, text) in client.logs(id: workload, follow: follow) {
                switch stream {
                case .stdout: emit(.stdout, out.feed(text))
                case .stderr: emit(.stderr, err.feed(text))
                case .exit: break
                }
            }
        } catch {
            emit(.stderr, label + "logs of \(workload) not read: \(error)\n")
        }
        emit(.stdout, out.flush())
        emit(.stderr, err.flush())
    }

    func emit(_ stream: LogStream, _ text: String) {
        if !text.isEmpty { write(stream, text) }
    }
}
