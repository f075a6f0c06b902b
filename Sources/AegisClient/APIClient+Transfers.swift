// APIClient+Transfers.swift — what `aegis cp`, `aegis node drain` and `aegis run` do beyond one
// request: an output file saved under a temporary name and renamed into place, a drain that
// reports the node's active agent count while it waits, a submission assembled from a manifest
// file or run flags with their input files.
import AegisProtocol
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

extension APIClient {
    /// Downloads output file `path` of workload `id` to `destination` (a directory: the file's
    /// name inside it). The bytes go to `<target>.aegis-partial`, renamed over the target once
    /// complete; a target that is a device, FIFO or socket is written into instead.
    /// - Returns: the path written.
    /// - Throws: ErrorBody (404 for a missing file), `ClientError` naming the file and errno.
    @discardableResult
    public func downloadOutput(id: String, path: String, to destination: String) async throws -> String {
        let target =
            localFileKind(destination) == .directory
            ? destination + (destination.hasSuffix("/") ? "" : "/") + lastPathComponent(path)
            : destination
        let kind = localFileKind(target)
        if kind != .regular && kind != .missing {
            // A device, FIFO or socket (`aegis cp ID:f /dev/null`): written into, as cp(1) does —
            // never replaced by a regular file.
            let fd = open(target, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ClientError("cannot open \(target): \(Errno(errno).explained)", errno: errno) }
            defer { close(fd) }
            _ = try await download(id: id, path: path, to: fd, what: target)
            return target
        }
        let partial = target + ".aegis-partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ClientError("cannot create \(partial): \(Errno(errno).explained)", errno: errno) }
        var closed = false
        do {
            _ = try await download(id: id, path: path, to: fd, what: partial)
            closed = true
            guard close(fd) == 0 else { throw ClientError("cannot write \(partial): \(Errno(errno).explained)", errno: errno) }
        } catch {
            if !closed { close(fd) }
            unlink(partial)
            throw error
        }
        guard rename(partial, target) == 0 else {
            let e = errno
            unlink(partial)
            throw ClientError("cannot rename \(partial) to \(target): \(Errno(e).explained)", errno: e)
        }
        return target
    }

    /// `drain(node:timeoutSeconds:)`, calling `progress` with the node's active agent count each
    /// time it changes (looked at every second) while the drain waits.
    public func drain(node name: String, timeoutSeconds: Int?, progress: @escaping @Sendable (Int) -> Void) async throws -> DrainResponse {
        try await withThrowingTaskGroup(of: DrainResponse?.self) { group in
            group.addTask {
                var last = -1
                while !Task.isCancelled {
                    if let n = try? await self.node(name: name), n.allocated.agents != last {
                        last = n.allocated.agents
                        progress(last)
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
                return nil
            }
            group.addTask { try await self.drain(node: name, timeoutSeconds: timeoutSeconds) }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }
}

extension SubmitRequest {
    /// A submission from a manifest file (sent as it is, with the files under its directory that
    /// it mentions by relative path) or from `aegis run` flags (the command's arguments that are
    /// local files are uploaded under the same names). An `--env NAME` without `=` takes the
    /// variable from this process's environment.
    /// - Throws: `ClientError` naming the file or the `--env` entry.
    public static func assemble(manifestFile: String?, run flags: RunFlags) throws -> SubmitRequest {
        if let file = manifestFile {
            let text = String(decoding: try readLocalFile(file, limit: 4 << 20), as: UTF8.self)
            let inputs = try collectManifestInputs(manifestPath: file, manifestText: text)
            return SubmitRequest(manifest: text, manifestFile: file, inputs: base64Inputs(inputs))
        }
        var flags = flags
        flags.env = try flags.env.map { e in
            if e.contains("=") { return e }
            guard let v = processEnvironment(e) else { throw ClientError("--env \(e): no '=' and no such variable in this environment") }
            return "\(e)=\(v)"
        }
        return SubmitRequest(run: flags, inputs: base64Inputs(try collectCommandInputs(command: flags.command)))
    }
}
