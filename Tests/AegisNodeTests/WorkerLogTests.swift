// Agents' logs capped as they are written: the sandbox's supervisor drains stdout/stderr pipes
// into the log files with a fixed buffer, drops the oldest half behind a marker line before a file
// would pass the cap, and reports the exit only after everything is written. Real Worker, real
// sandboxes writing numbered lines with `seq`, real cgroups under a test-only parent.
import AegisProtocol
import AegisSandbox
import Foundation
import Logging
import XCTest
@testable import AegisNode
import AegisSystem

final class WorkerLogTests: XCTestCase {
    static let agentUID: UInt32 = 40125
    var dataDir = ""
    var cgroupParent = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/aegis-logtest-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SandboxError.system("mkdtemp") }
        dataDir = String(cString: p)
        chmod(dataDir, 0o755)  // the agent's uid must reach its work dir
        cgroupParent = "aegis-logtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    override func tearDownWithError() throws {
        let parent = "/sys/fs/cgroup/unified/" + cgroupParent
        rmdir(parent)
        XCTAssertFalse(FileManager.default.fileExists(atPath: parent), "cgroup parent left behind: \(parent)")
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    /// Exit reports, and each log file's bytes read at the moment its exit was reported.
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var reports: [String: ExitReport] = [:]
        private var logsAtExit: [String: (stdout: [UInt8], stderr: [UInt8])] = [:]
        let paths: AegisPaths
        init(paths: AegisPaths) { self.paths = paths }

        func record(_ e: WorkerEvent) {
            guard case let .exited(id, _, report) = e else { return }
            let dir = paths.workloadDir(id)
            let out = (try? FileSystem.readBytes(dir + "/stdout.log")) ?? [], err = (try? FileSystem.readBytes(dir + "/stderr.log")) ?? []
            lock.lock(); reports[id] = report; logsAtExit[id] = (out, err); lock.unlock()
        }

        func exit(_ id: String) -> (report: ExitReport, stdout: [UInt8], stderr: [UInt8])? {
            lock.lock(); defer { lock.unlock() }
            guard let r = reports[id], let logs = logsAtExit[id] else { return nil }
            return (r, logs.stdout, logs.stderr)
        }
    }

    func makeWorker(capBytes: Int, recorder: Recorder) throws -> Worker {
        try Worker(
            paths: recorder.paths, logger: Logger(label: "log-test"), cgroupParent: cgroupParent,
            logCapBytes: capBytes, onEvent: { recorder.record($0) })
    }

    func assignment(_ id: String, _ script: String) -> Assignment {
        let spec = WorkloadSpec(tenant: "t", name: "logs", runtime: "sh", args: ["/bin/sh", "-c", script])
        return Assignment(workload: Workload(id: id, spec: spec, generation: 1, createdAtMs: 0), uid: Self.agentUID)
    }

    /// Waits (polling every `everyMs`, calling `sample` each time) for the workload's exit report.
    func waitForExit(
        _ id: String, _ recorder: Recorder, seconds: Double, everyMs: UInt32 = 10,
        sample: () -> Void = {}
    ) -> (report: ExitReport, stdout: [UInt8], stderr: [UInt8])? {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if let e = recorder.exit(id) { return e }
            sample()
            usleep(everyMs * 1000)
        }
        return recorder.exit(id)
    }

    /// Bytes `seq 1 n` writes.
    static func seqBytes(_ n: Int) -> Int64 {
        var total: Int64 = 0, low = 1, digits = 1
        while low <= n {
            let high = min(n, low * 10 - 1)
            total += Int64(high - low + 1) * Int64(digits + 1)
            low *= 10
            digits += 1
        }
        return total
    }

    /// A log of numbered lines: its marker's N (nil without one) and its lines, which must count up
    /// by one to `last` and end with a newline. Fails the test (and returns nil) otherwise.
    func numberedLog(_ bytes: [UInt8], last: Int, file: StaticString = #filePath, line: UInt = #line) -> (dropped: Int64?, first: Int)? {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.last?.isEmpty == true else { XCTFail("log does not end with a newline", file: file, line: line); return nil }
        lines.removeLast()
        var dropped: Int64?
        let marker = Array("[aegis: ".utf8), tail = Array(" earlier bytes dropped]".utf8)
        if let head = lines.first, head.starts(with: marker) {
            guard head.reversed().starts(with: tail.reversed()),
                let n = Int64(String(decoding: head.dropFirst(marker.count).dropLast(tail.count), as: UTF8.self))
            else {
                XCTFail("bad marker line: \(String(decoding: head, as: UTF8.self))", file: file, line: line); return nil
            }
            dropped = n
            lines.removeFirst()
        }
        guard let firstLine = lines.first, let first = Int(String(decoding: firstLine, as: UTF8.self)) else {
            XCTFail("no numbered line in the log", file: file, line: line); return nil
        }
        for (i, l) in lines.enumerated() where Int(String(decoding: l, as: UTF8.self)) != first + i {
            XCTFail(
                "line \(i) after the marker is \"\(String(decoding: l, as: UTF8.self))\", expected \(first + i)", file: file, line: line)
            return nil
        }
        XCTAssertEqual(first + lines.count - 1, last, "the last line", file: file, line: line)
        return (dropped, first)
    }

    static func vmHWMKiB(_ pid: Int32) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let l = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return Int(l.split(separator: " ", omittingEmptySubsequences: true)[1])
    }

    /// The supervisor's children named aegis-logpump.
    static func logPumps(of supervisor: Int32) -> [Int32] {
        let kids = (try? String(contentsOfFile: "/proc/\(supervisor)/task/\(supervisor)/children", encoding: .utf8)) ?? ""
        return kids.split(separator: " ").compactMap { Int32($0) }.filter {
            (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("aegis-logpump") == true
        }
    }

    // MARK: tests

    func testTwoGiBOfOutputKeepsMemoryAndFileUnderTheCapAndTheTailWhole() throws {
        let cap = 8 << 20
        let recorder = Recorder(paths: AegisPaths(dataDir: dataDir))
        let worker = try makeWorker(capBytes: cap, recorder: recorder)
        defer { worker.release(workloadID: "w-flood", generation: 1) }
        // seq 1 225859475 writes exactly 2 GiB of numbered lines.
        let last = 225_859_475
        XCTAssertEqual(Self.seqBytes(last), 2 << 30)
        let hwmBefore = try XCTUnwrap(Self.vmHWMKiB(getpid()))
        let started = Date()
        worker.start(assignment("w-flood", "seq 1 \(last)"))

        let log = worker.logPath(workloadID: "w-flood", stream: .stdout)
        var maxFileBytes: Int64 = 0, samples = 0, supervisorHWM = 0, pumpHWM = 0
        var supervisor: Int32?
        let exit = waitForExit("w-flood", recorder, seconds: 120, everyMs: 5) {
            var st = stat()
            if stat(log, &st) == 0 { maxFileBytes = max(maxFileBytes, Int64(st.st_size)); samples += 1 }
            if supervisor == nil { supervisor = try? worker.runtime.record(Worker.sandboxID("w-flood", 1)).supervisorPid }
            if let s = supervisor {
                // Once it is aegis-supervisor (before the exec it is a copy of this process).
                let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(s)/exe")) ?? ""
                if exe.hasSuffix("/aegis-supervisor") { supervisorHWM = max(supervisorHWM, Self.vmHWMKiB(s) ?? 0) }
                for p in Self.logPumps(of: s) { pumpHWM = max(pumpHWM, Self.vmHWMKiB(p) ?? 0) }
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let hwmAfter = try XCTUnwrap(Self.vmHWMKiB(getpid()))
        let (report, stdout, _) = try XCTUnwrap(exit, "no exit reported")
        print(
            "2 GiB flood: \(String(format: "%.1f", seconds)) s; largest stdout.log seen \(maxFileBytes) bytes in \(samples) samples (cap \(cap));",
            "test process VmHWM \(hwmBefore) -> \(hwmAfter) KiB; supervisor VmHWM \(supervisorHWM) KiB; log pump VmHWM \(pumpHWM) KiB;",
            "stdout.log at exit \(stdout.count) bytes")
        XCTAssertEqual(report.exitCode, 0, "\(report)")
        XCTAssertGreaterThan(samples, 100)
        XCTAssertLessThanOrEqual(maxFileBytes, Int64(cap + (1 << 20)), "log file above cap + 1 MiB")
        XCTAssertLessThanOrEqual(hwmAfter - hwmBefore, 32 << 10, "the worker's process grew with the agent's output")
        XCTAssertGreaterThan(pumpHWM, 0, "no log pump seen")
        XCTAssertLessThan(pumpHWM, 32 << 10)
        XCTAssertGreaterThan(supervisorHWM, 0, "aegis-supervisor not seen")
        XCTAssertLessThan(supervisorHWM, 32 << 10)

        // The file: marker, then whole numbered lines up to the last; nothing lost in between.
        XCTAssertLessThanOrEqual(stdout.count, cap)
        let parsed = try XCTUnwrap(numberedLog(stdout, last: last))
        let dropped = try XCTUnwrap(parsed.dropped, "no drop marker")
        XCTAssertEqual(dropped, Self.seqBytes(parsed.first - 1), "the marker counts exactly the lines before the first kept one")
        // The read path: logical offsets; the bytes before the kept part are skipped, not lost.
        let chunk = try XCTUnwrap(worker.readLog(workloadID: "w-flood", stream: .stdout, offset: 0, maxBytes: 64))
        XCTAssertEqual(chunk.size, 2 << 30, "logical size: every byte the agent wrote")
        XCTAssertEqual(chunk.start, dropped)
        XCTAssertEqual(String(decoding: chunk.bytes.prefix(while: { $0 != 0x0A }), as: UTF8.self), "\(parsed.first)")
        XCTAssertLessThan(seconds, 60)
    }

    func testLastLineIsInTheLogWhenTheExitIsReportedWithAndWithoutTheCap() throws {
        let cap = 1 << 20
        let recorder = Recorder(paths: AegisPaths(dataDir: dataDir))
        let worker = try makeWorker(capBytes: cap, recorder: recorder)
        let runs: [(id: String, script: String, out: Int, err: Int, capped: Bool)] = [
            // under the cap: the files are exactly what was written
            ("w-small", "seq 1 100000; seq 1 5000 >&2", 100_000, 5000, false),
            // past the cap in one go, and then in bursts until the very end
            ("w-burst", "seq 1 1000000; seq 1 300000 >&2", 1_000_000, 300_000, true),
            (
                "w-paced", "i=0; while [ $i -lt 40 ]; do seq $((i*25000+1)) $((i*25000+25000)); i=$((i+1)); sleep 0.02; done", 1_000_000, 0,
                true
            ),
        ]
        defer { for r in runs { worker.release(workloadID: r.id, generation: 1) } }
        for r in runs { worker.start(assignment(r.id, r.script)) }
        for r in runs {
            let (report, stdout, stderr) = try XCTUnwrap(waitForExit(r.id, recorder, seconds: 60), "\(r.id): no exit reported")
            XCTAssertEqual(report.exitCode, 0, "\(r.id): \(report)")
            if r.capped {
                let out = try XCTUnwrap(numberedLog(stdout, last: r.out), r.id)
                XCTAssertEqual(out.dropped, Self.seqBytes(out.first - 1), r.id)
                XCTAssertLessThanOrEqual(stdout.count, cap, r.id)
            } else {
                XCTAssertEqual(stdout, Array((1...r.out).map { "\($0)\n" }.joined().utf8), r.id)
            }
            if r.err > 0 {
                let err = try XCTUnwrap(numberedLog(stderr, last: r.err), r.id)
                XCTAssertEqual(err.dropped.map { _ in true }, r.err > 200_000 ? true : nil, "\(r.id): stderr marker")
            } else {
                XCTAssertEqual(stderr, [], r.id)
            }
        }
    }

    func testTooSmallCapIsRefusedByName() throws {
        let recorder = Recorder(paths: AegisPaths(dataDir: dataDir))
        XCTAssertThrowsError(try makeWorker(capBytes: 1000, recorder: recorder)) { e in
            XCTAssertEqual((e as? SandboxError)?.kind, .invalidSpec, "\(e)")
            XCTAssertTrue("\(e)".contains("log cap 1000 bytes"), "\(e)")
        }
    }
}
