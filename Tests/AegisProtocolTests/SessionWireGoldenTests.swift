// SessionWireGoldenTests.swift — the node protocol's JSON, frame by frame. The fixtures were
// recorded from the struct form of `SessionMessage` (a `type` string plus optionals) before it
// became an enum; every frame kind must still encode to exactly these objects (sorted keys) and
// decode back to the same value, so a worker and a controller of either form understand each other.
import AegisProtocol
import Foundation
import XCTest

final class SessionWireGoldenTests: XCTestCase {
    static let node = NodeInfo(name: "w1", role: .worker, capabilities: NodeCapabilities(cpuMillis: 2000, memoryBytes: 1 << 30))
    static let workload = Workload(
        id: "a-1", spec: WorkloadSpec(tenant: "t", name: "job", runtime: "command", args: ["true"]),
        state: .scheduled, node: "w1", generation: 3, createdAtMs: 1_700_000_000_000)
    static let gpu = GPUDevice(vendor: "nvidia", model: "T4", pciAddress: "0000:01:00.0")

    /// One message of every frame kind, with the fields that kind carries.
    static var frames: [(name: String, message: SessionMessage)] {
        [
            ("hello", .hello(version: 1, node: node)),
            ("welcome", .welcome(version: 1, lease: LeaseTerms(), active: [PlacementRef(id: "a-1", generation: 3)])),
            ("welcome-empty", .welcome(version: 1, lease: LeaseTerms(renewEveryMs: 500), active: [])),
            ("renew", .renew(seq: 7, node: nil, capacity: LiveCapacity(runningAgents: 2, memoryAvailableBytes: 4096, loadMillis: 250))),
            ("renew-capabilities", .renew(seq: 8, node: node, capacity: LiveCapacity(runningAgents: 0))),
            ("renewed", .renewed(seq: 7, state: .ready)),
            ("renewed-unknown", .renewed(seq: 9, state: .unknown)),
            ("event-started", .event(.started(id: "a-1", generation: 3, pid: 42))),
            ("event-exited", .event(.exited(id: "a-1", generation: 3, report: ExitReport(exitCode: 1, wallTimeUs: 10, cpuTimeUs: 5)))),
            ("event-failed", .event(.failedToStart(id: "a-1", generation: 3, error: "execve: ENOENT"))),
            ("event-lost", .event(.lost(id: "a-1", generation: 3))),
            ("start", .start(StartCommand(workload: workload, uid: 100_000, gpus: [gpu], files: ["main.py": "cHJpbnQoMSk="]))),
            ("cancel", .cancel(PlacementRef(id: "a-1", generation: 3))),
            ("release", .release(PlacementRef(id: "a-1", generation: 3))),
            ("request-log", .request(seq: 4, WorkerRequest(kind: .log, workload: "a-1", stream: .stderr, offset: 10, maxBytes: 100))),
            ("request-outputs", .request(seq: 5, WorkerRequest(kind: .outputs, workload: "a-1", outputDir: "output"))),
            (
                "request-output",
                .request(
                    seq: 6,
                    WorkerRequest(
                        kind: .output, workload: "a-1", offset: 0, maxBytes: 4,
                        outputDir: "output", path: "r.txt"))
            ),
            ("reply-log", .reply(seq: 4, WorkerReply(data: "aGk=", size: 12, start: 10))),
            ("reply-outputs", .reply(seq: 5, WorkerReply(paths: ["r.txt"]))),
            ("reply-error", .reply(seq: 6, WorkerReply(error: "no log for workload a-1"))),
            ("renewCertificate", .renewCertificate(seq: 0, csrPEM: "CSR PEM")),
            ("certificate", .certificate(seq: 0, .issued(pem: "CERT PEM"))),
            ("certificate-refused", .certificate(seq: 0, .refused(reason: "node w1 has no registered identity"))),
            ("error", .error(message: "hello names node w2")),
        ]
    }

    static let fixtures: [String: String] = [
        "hello":
            #"{"node":{"allocated":{"agents":0,"cpuMillis":0,"gpus":[],"memoryBytes":0},"capabilities":{"cpuMillis":2000,"gpus":[],"isolation":{"allowUnenforcedLimits":false,"cgroupControllers":[],"kernelVersion":"","seccomp":false,"userNamespaces":false},"labels":{},"memoryBytes":1073741824,"runtimes":[],"warnings":[]},"cordoned":false,"name":"w1","role":"worker","state":"Ready"},"type":"hello","version":1}"#,
        "welcome":
            #"{"active":[{"generation":3,"id":"a-1"}],"lease":{"downAfterMs":40000,"notReadyAfterMs":20000,"renewEveryMs":5000,"rescheduleMarginMs":10000},"type":"welcome","version":1}"#,
        "welcome-empty":
            #"{"active":[],"lease":{"downAfterMs":40000,"notReadyAfterMs":20000,"renewEveryMs":500,"rescheduleMarginMs":10000},"type":"welcome","version":1}"#,
        "renew": #"{"capacity":{"loadMillis":250,"memoryAvailableBytes":4096,"runningAgents":2},"seq":7,"type":"renew"}"#,
        "renew-capabilities":
            #"{"capacity":{"runningAgents":0},"node":{"allocated":{"agents":0,"cpuMillis":0,"gpus":[],"memoryBytes":0},"capabilities":{"cpuMillis":2000,"gpus":[],"isolation":{"allowUnenforcedLimits":false,"cgroupControllers":[],"kernelVersion":"","seccomp":false,"userNamespaces":false},"labels":{},"memoryBytes":1073741824,"runtimes":[],"warnings":[]},"cordoned":false,"name":"w1","role":"worker","state":"Ready"},"seq":8,"type":"renew"}"#,
        "renewed": #"{"seq":7,"state":"Ready","type":"renewed"}"#,
        "renewed-unknown": #"{"seq":9,"state":"Unknown","type":"renewed"}"#,
        "event-started": #"{"event":{"started":{"generation":3,"id":"a-1","pid":42}},"type":"event"}"#,
        "event-exited":
            #"{"event":{"exited":{"generation":3,"id":"a-1","report":{"cancelled":false,"cpuTimeUs":5,"exitCode":1,"oomKilled":false,"signal":0,"timedOut":false,"wallTimeUs":10}}},"type":"event"}"#,
        "event-failed": #"{"event":{"failedToStart":{"error":"execve: ENOENT","generation":3,"id":"a-1"}},"type":"event"}"#,
        "event-lost": #"{"event":{"lost":{"generation":3,"id":"a-1"}},"type":"event"}"#,
        "start":
            #"{"files":{"main.py":"cHJpbnQoMSk="},"gpus":[{"deviceNodes":[],"model":"T4","pciAddress":"0000:01:00.0","vendor":"nvidia"}],"type":"start","uid":100000,"workload":{"createdAtMs":1700000000000,"generation":3,"gpus":[],"id":"a-1","node":"w1","oomKilled":false,"restarts":0,"spec":{"args":["true"],"env":{},"inputs":{},"name":"job","network":"none","outputDir":"output","requires":{"labels":{},"runtimes":[]},"resources":{"gpus":0},"restart":"never","runtime":"command","tenant":"t"},"state":"scheduled","unenforcedLimits":[]}}"#,
        "cancel": #"{"placement":{"generation":3,"id":"a-1"},"type":"cancel"}"#,
        "release": #"{"placement":{"generation":3,"id":"a-1"},"type":"release"}"#,
        "request-log":
            #"{"request":{"kind":"log","maxBytes":100,"offset":10,"stream":"stderr","workload":"a-1"},"seq":4,"type":"request"}"#,
        "request-outputs": #"{"request":{"kind":"outputs","outputDir":"output","workload":"a-1"},"seq":5,"type":"request"}"#,
        "request-output":
            #"{"request":{"kind":"output","maxBytes":4,"offset":0,"outputDir":"output","path":"r.txt","workload":"a-1"},"seq":6,"type":"request"}"#,
        "reply-log": #"{"reply":{"data":"aGk=","size":12,"start":10},"seq":4,"type":"reply"}"#,
        "reply-outputs": #"{"reply":{"paths":["r.txt"]},"seq":5,"type":"reply"}"#,
        "reply-error": #"{"reply":{"error":"no log for workload a-1"},"seq":6,"type":"reply"}"#,
        "renewCertificate": #"{"pem":"CSR PEM","seq":0,"type":"renewCertificate"}"#,
        "certificate": #"{"pem":"CERT PEM","seq":0,"type":"certificate"}"#,
        "certificate-refused": #"{"message":"node w1 has no registered identity","seq":0,"type":"certificate"}"#,
        "error": #"{"message":"hello names node w2","type":"error"}"#,
    ]

    func testEveryFrameKeepsItsJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var recorded: [String] = []
        for (name, message) in Self.frames {
            let json = String(decoding: try encoder.encode(message), as: UTF8.self)
            recorded.append("        \"\(name)\": #\"\(json)\"#,")
            XCTAssertEqual(json, Self.fixtures[name], name)
        }
        if Self.frames.contains(where: { Self.fixtures[$0.name] == nil }) { print(recorded.joined(separator: "\n")) }
    }

    func testEveryFixtureDecodesToItsFrame() throws {
        let decoder = JSONDecoder()
        for (name, message) in Self.frames {
            guard let text = Self.fixtures[name] else { XCTFail("no fixture for \(name)"); continue }
            XCTAssertEqual(try SessionMessage(frameText: text, decoder), message, name)
        }
    }

    /// Every frame kind of the protocol has a fixture.
    func testEveryKindIsCovered() {
        let covered = Set(Self.frames.map(\.message.kind.rawValue))
        XCTAssertEqual(
            covered,
            Set([
                "hello", "welcome", "renew", "renewed", "event", "start", "cancel", "release", "request", "reply",
                "renewCertificate", "certificate", "error",
            ]))
    }
}
