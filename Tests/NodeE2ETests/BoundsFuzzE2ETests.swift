// End-to-end: numbers at and beyond every bound, sent through the real API of a real node
// (manifests, `aegis run` flags, tenant quotas, join token lifetimes, drain timeouts). Every request
// must be answered 2xx or 4xx — never 5xx, never a dropped connection — and the node must stay up.
// The cases: every edge text in every numeric manifest field, then 300 random ones from a fixed
// seed (the same on every run).
import AegisProtocol
import Foundation
import XCTest

final class BoundsFuzzE2ETests: XCTestCase {
    var node: NodeHarness!

    override func setUpWithError() throws {
        node = try NodeHarness(extraArgs: ["--allow-unenforced-limits"])
        try node.start()
    }

    override func tearDown() {
        node = nil
    }

    /// SplitMix64: deterministic, seedable.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Texts at the edges of Int64, of the bounds, of YAML's number forms, and of the unit suffixes.
    static let edgeTexts = [
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551616",
        "99999999999999999999999999", "1e308", "-1e308", "1.7976931348623157e308", "NaN", ".nan", ".inf", "-.inf",
        "-1", "0", "-0", "1", "0.0001", "00000000000000000000001", "0x7fffffffffffffff", "1_000",
        "99999999Ei", "8Ei", "1Ei", "2Pi", "1Pi", "1025Ti", "1E", "9.3E", "1.0000001Pi",
        "9223372036854775807s", "9223372036854775807m", "9223372036854775807d", "365d", "366d", "31536000", "31536001",
        "1000000", "1000001", "1000000000m", "1000000001m", "4194304", "4194305", "1024", "1025", "-5m", "-1Gi",
    ]
    static let suffixes = ["", "", "m", "k", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "M", "G", "T", "P", "E", "B", "s", "h", "d"]

    /// A number-like text: an edge, any Int64, a small number, or a fraction, with a random suffix.
    static func numberText(_ rng: inout SeededGenerator) -> String {
        let suffix = suffixes.randomElement(using: &rng)!
        switch rng.next() % 6 {
        case 0, 1: return edgeTexts.randomElement(using: &rng)!
        case 2: return String(Int64(bitPattern: rng.next())) + suffix
        case 3: return String(rng.next() % 100_000) + suffix
        case 4: return String(rng.next() % 2_000_000_000_000) + suffix
        default: return "\(rng.next() % 10_000).\(rng.next() % 1000)" + suffix
        }
    }

    /// A YAML scalar: the text bare or double-quoted.
    static func scalar(_ rng: inout SeededGenerator) -> String {
        let text = numberText(&rng)
        return rng.next() % 3 == 0 ? "\"\(text)\"" : text
    }

    /// A JSON number-ish token for an Int field: edges of Int64 and JSON's own forms.
    static let jsonNumbers = [
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "1e308", "-1e308", "1.5", "-1", "0", "1", "1024", "1025", "86400", "86401", "31536000",
        "31536001", "1000000", "1000001", "1125899906842624", "1125899906842625", "1000000000",
        "1000000001", "null", "\"7\"", "NaN",
    ]

    static func jsonNumber(_ rng: inout SeededGenerator) -> String {
        rng.next() % 4 == 0 ? String(Int64(bitPattern: rng.next())) : jsonNumbers.randomElement(using: &rng)!
    }

    /// The numeric manifest fields, each as a one-line YAML fragment around a value.
    static let manifestFields: [@Sendable (String) -> String] = [
        { "resources: {memory: \($0)}" }, { "resources: {cpu: \($0)}" }, { "resources: {pids: \($0)}" },
        { "resources: {gpus: \($0)}" }, { "timeout: \($0)" }, { "requires: {gpu: {count: \($0)}}" },
    ]

    /// A manifest running `true` with the given extra lines: an accepted one is placed and its
    /// sandbox started (limits this host can't enforce are allowed), so spawns run throughout.
    static func submission(_ name: String, _ lines: [String]) -> String {
        let manifest = (["name: \(name)", "command: [\"true\"]"] + lines).joined(separator: "\n") + "\n"
        let body = try! JSONEncoder().encode(SubmitRequest(manifest: manifest, manifestFile: "fuzz.yaml"))
        return String(decoding: body, as: UTF8.self)
    }

    /// One request of case `i`: method, path, token and JSON body.
    static func request(
        _ i: Int, _ rng: inout SeededGenerator, admin: String, tenant: String
    )
        -> (method: String, path: String, token: String, body: String)
    {
        let token = rng.next() % 2 == 0 ? admin : tenant
        switch rng.next() % 10 {
        case 0...5:
            var lines: [String] = []
            var resources: [String] = []
            for key in ["memory", "cpu", "pids", "gpus"] where rng.next() % 2 == 0 { resources.append("\(key): \(scalar(&rng))") }
            if !resources.isEmpty { lines.append("resources: {\(resources.joined(separator: ", "))}") }
            if rng.next() % 2 == 0 { lines.append("timeout: \(scalar(&rng))") }
            if rng.next() % 6 == 0 { lines.append("requires: {gpu: {count: \(scalar(&rng))}}") }
            return ("POST", "/v1/workloads", token, submission("fuzz-\(i)", lines))
        case 6, 7:
            var fields = ["\"command\": [\"true\"]", "\"env\": []", "\"name\": \"run-\(i)\""]
            for key in ["cpus", "memory", "timeout"] where rng.next() % 2 == 0 { fields.append("\"\(key)\": \"\(numberText(&rng))\"") }
            if rng.next() % 2 == 0 { fields.append("\"gpus\": \(jsonNumber(&rng))") }
            return ("POST", "/v1/workloads", token, "{\"run\": {\(fields.joined(separator: ", "))}, \"inputs\": {}}")
        case 8:
            let quota = ["cpuMillis", "memoryBytes", "gpus", "runningAgents"].filter { _ in rng.next() % 2 == 0 }
                .map { "\"\($0)\": \(jsonNumber(&rng))" }
            return ("POST", "/v1/tenants", admin, "{\"name\": \"q\(i)\", \"quota\": {\(quota.joined(separator: ", "))}}")
        default:
            if rng.next() % 2 == 0 {
                return ("POST", "/v1/tokens", admin, "{\"ttlSeconds\": \(jsonNumber(&rng))}")
            }
            // An unknown node: an in-range timeout is answered 404, never drains the test node.
            return ("POST", "/v1/nodes/fuzz-absent/drain", admin, "{\"timeoutSeconds\": \(jsonNumber(&rng))}")
        }
    }

    func testBoundaryAndRandomNumbersAreAnswered2xxOr4xxAndTheNodeStaysUp() throws {
        let admin = node.adminToken()
        // A tenant with the largest quotas: its submissions go through the quota arithmetic.
        let created = try node.http(
            "POST", "/v1/tenants", token: admin,
            body: Data(
                """
                {"name": "fuzz", "quota": {"cpuMillis": \(Bounds.maxCPUMillis), "memoryBytes": \(Bounds.maxMemoryBytes),
                 "gpus": \(Bounds.maxQuotaGPUs), "runningAgents": \(Bounds.maxQuotaAgents)}}
                """.utf8))
        XCTAssertEqual(created.status, 201, String(decoding: created.body, as: UTF8.self))
        let tenantToken = try JSONDecoder().decode(CreateTenantResponse.self, from: created.body).token
        // Something in use, so that every quota sum has two non-zero terms.
        let sleeper = try startSleeper(token: tenantToken)

        // First every edge text in every numeric manifest field alone (bare and quoted), then
        // 300 random cases over manifests, run flags, quotas, token lifetimes and drain timeouts.
        var requests: [(method: String, path: String, token: String, body: String)] = []
        for (f, field) in Self.manifestFields.enumerated() {
            for (e, edge) in Self.edgeTexts.enumerated() {
                let value = e % 2 == 0 ? edge : "\"\(edge)\""
                requests.append(("POST", "/v1/workloads", tenantToken, Self.submission("edge-\(f)-\(e)", [field(value)])))
            }
        }
        var rng = SeededGenerator(state: 0xAE61_5B0D)
        for i in 0..<300 { requests.append(Self.request(i, &rng, admin: admin, tenant: tenantToken)) }

        let cases = requests.count
        let deadline = Date().addingTimeInterval(240)
        var statuses: [Int: Int] = [:]
        var done = 0
        for (i, r) in requests.enumerated() where Date() < deadline {
            let answer: (status: Int, body: Data)
            do {
                answer = try node.http(r.method, r.path, token: r.token, body: Data(r.body.utf8))
            } catch {
                XCTFail("case \(i) \(r.method) \(r.path) \(r.body): no answer (\(error))\n\(node.nodeLog().suffix(3000))")
                break
            }
            statuses[answer.status, default: 0] += 1
            XCTAssertTrue(
                (200..<500).contains(answer.status),
                "case \(i) \(r.path) \(r.body): HTTP \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
            XCTAssertTrue(node.process?.isRunning == true, "node died at case \(i): \(r.body)\n\(node.nodeLog().suffix(3000))")
            if node.process?.isRunning != true { break }
            done += 1
        }
        print("bounds fuzz: \(done) of \(cases) cases answered; HTTP statuses \(statuses.sorted { $0.key < $1.key })")
        XCTAssertEqual(done, cases, "all cases within the time bound; statuses \(statuses)")
        // Both kinds occur: the generator reaches accepted and refused values.
        XCTAssertGreaterThan(statuses.filter { (200..<300).contains($0.key) }.values.reduce(0, +), 20, "\(statuses)")
        XCTAssertGreaterThan(statuses[400] ?? 0, 100, "\(statuses)")
        XCTAssertEqual(try node.http("GET", "/v1/whoami", token: admin).status, 200)
        XCTAssertEqual(try node.http("GET", "/v1/workloads", token: tenantToken).status, 200)
        XCTAssertEqual(try node.http("POST", "/v1/workloads/\(sleeper)/cancel", token: tenantToken).status, 200)
        XCTAssertTrue(node.process?.isRunning == true)
    }

    /// Submits `sleep 600` for the token's tenant and returns its id once it runs (it then counts
    /// against the tenant's quota: the scheduler's default 100m CPU and 128 MiB).
    func startSleeper(token: String) throws -> String {
        let body = try JSONEncoder().encode(SubmitRequest(manifest: "name: sleeper\ncommand: [sleep, \"600\"]\n"))
        let r = try node.http("POST", "/v1/workloads", token: token, body: body)
        XCTAssertEqual(r.status, 201, String(decoding: r.body, as: UTF8.self))
        let id = try JSONDecoder().decode(Workload.self, from: r.body).id
        let deadline = Date().addingTimeInterval(20)
        var now: Workload?
        while Date() < deadline {
            now = try JSONDecoder().decode(WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: token).body).workload
            if let state = now?.state, state == .running || state.isFinal { break }
            usleep(50_000)
        }
        XCTAssertEqual(now?.state, .running, "the sleeper must run for its usage to count: \(now?.reason ?? "")\n\(node.nodeLog())")
        return id
    }

    /// The reported crashes, one by one: each is a 400 naming the field and the range, and the
    /// quota tenant's next valid submission is still accepted.
    func testReportedOverflowsAreRefusedWithTheRange() throws {
        let admin = node.adminToken()
        let created = try node.http(
            "POST", "/v1/tenants", token: admin,
            body: Data(
                """
                {"name": "quota", "quota": {"memoryBytes": 1073741824, "cpuMillis": 2000}}
                """.utf8))
        XCTAssertEqual(created.status, 201, String(decoding: created.body, as: UTF8.self))
        let token = try JSONDecoder().decode(CreateTenantResponse.self, from: created.body).token
        let sleeper = try startSleeper(token: token)
        let cases: [(manifest: String, field: String, fragment: String)] = [
            ("resources: {memory: \"9223372036854775807\"}", "resources.memory", "at most 1 PiB (1125899906842624 bytes)"),
            ("resources: {cpu: \"9223372036854775\"}", "resources.cpu", "CPU is 1m to 1000000 cores (1000000000m)"),
            ("timeout: 9223372036854775807s", "timeout", "1 s to 365 d (31536000 s)"),
            ("resources: {memory: 1Ei}", "resources.memory", "at most 1 PiB"),
        ]
        for c in cases {
            let manifest = "name: crash\ncommand: [\"true\"]\n\(c.manifest)\n"
            let body = try JSONEncoder().encode(SubmitRequest(manifest: manifest, manifestFile: "crash.yaml"))
            let r = try node.http("POST", "/v1/workloads", token: token, body: body)
            XCTAssertEqual(r.status, 400, String(decoding: r.body, as: UTF8.self))
            let error = try JSONDecoder().decode(ErrorBody.self, from: r.body)
            XCTAssertEqual(error.field, c.field, error.error)
            XCTAssertTrue(error.error.contains(c.fragment), error.error)
        }
        let quota = try node.http(
            "POST", "/v1/tenants", token: admin,
            body: Data(
                """
                {"name": "huge", "quota": {"memoryBytes": 9223372036854775807}}
                """.utf8))
        XCTAssertEqual(quota.status, 400)
        XCTAssertEqual(try JSONDecoder().decode(ErrorBody.self, from: quota.body).field, "quota.memoryBytes")
        let ok = try JSONEncoder().encode(SubmitRequest(manifest: "name: fine\ncommand: [\"true\"]\nresources: {memory: 512Mi, cpu: 1}\n"))
        XCTAssertEqual(try node.http("POST", "/v1/workloads", token: token, body: ok).status, 201)
        XCTAssertEqual(try node.http("POST", "/v1/workloads/\(sleeper)/cancel", token: token).status, 200)
        XCTAssertTrue(node.process?.isRunning == true, node.nodeLog())
    }

    /// Out-of-range flags are refused by the CLI itself with the flag and its range (a leading '-'
    /// is a value, not "Missing value"); nothing reaches the node.
    func testCLIRefusesOutOfRangeFlagsNamingTheFlagAndTheRange() throws {
        let elsewhere = node.dataDir + "/not-started"
        let cases: [([String], [String])] = [
            (["up", "--data-dir", elsewhere, "--api-port", "99999"], ["--api-port 99999: out of range 0…65535"]),
            (["up", "--data-dir", elsewhere, "--api-port", "-1"], ["--api-port -1: out of range 0…65535"]),
            (
                ["up", "--data-dir", elsewhere, "--lease-renew-every", "9223372036854775807s"],
                ["--lease-renew-every: \"9223372036854775807s\" is out of range: 1 ms to 1 d"]
            ),
            (["run", "--cpus=-1", "--", "true"], ["--cpus: \"-1\" is out of range: CPU is 1m to 1000000 cores (1000000000m)"]),
            (["run", "--cpus", "-1", "--", "true"], ["--cpus: \"-1\" is out of range"]),
            (["run", "--memory=99999999Ei", "--", "true"], ["--memory: \"99999999Ei\" is out of range: memory is at most 1 PiB"]),
            (["run", "--gpus=-1", "--", "true"], ["--gpus -1: out of range 0…1024"]),
            (["run", "--timeout", "-5s", "--", "true"], ["--timeout: \"-5s\" is out of range: 1 s to 365 d"]),
            (["tenant", "create", "t1", "--max-memory=-1Gi"], ["--max-memory: \"-1Gi\" is out of range"]),
            (["tenant", "create", "t1", "--max-agents", "-1"], ["--max-agents -1: out of range 0…1000000"]),
            (["token", "create", "--ttl", "366d"], ["--ttl: \"366d\" is out of range: 1 s to 365 d"]),
            (["node", "drain", "e2e-node", "--timeout", "2d"], ["--timeout: \"2d\" is out of range: 1 s to 1 d (86400 s)"]),
            (["down", "--timeout", "-1"], ["--timeout -1: out of range 1…86400"]),
        ]
        for (args, fragments) in cases {
            let r = try node.cli(args, timeout: 30)
            XCTAssertNotEqual(r.status, 0, "\(args) succeeded: \(r.stdout)")
            for f in fragments { XCTAssertTrue(r.stderr.contains(f), "\(args): \(r.stderr)") }
            XCTAssertFalse(r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: elsewhere + "/aegis.db"), "no node was started")
        let tenants = try node.cli(["tenant", "ls"])
        XCTAssertFalse(tenants.stdout.contains("t1"), tenants.stdout)
        let nodes = try node.cli(["node", "ls"])
        XCTAssertFalse(nodes.stdout.contains("Cordoned"), "the drain never ran: \(nodes.stdout)")
        XCTAssertTrue(node.process?.isRunning == true)
    }

    /// A workload stored with memory 1Ei and an Int.max timeout (as versions before the bounds
    /// accepted): after a restart the scheduling pass leaves it pending with the reason, and
    /// `aegis describe` renders it.
    func testDescribeOfAStoredOneExbibyteWorkloadRendersAndTheNodeSurvivesIt() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") else { throw XCTSkip("needs /usr/bin/sqlite3") }
        // Held pending (the node has no GPU) so that it is still scheduled after the restart.
        let submitted = try node.cli(["run", "-d", "--memory", "1Gi", "--gpus", "1", "--", "true"])
        XCTAssertEqual(submitted.status, 0, submitted.stderr)
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        node.stop()
        try sh([
            "sqlite3", node.dataDir + "/aegis.db",
            """
            UPDATE workloads SET spec = json_set(spec, '$.resources.memoryBytes', \(Int64(1) << 60),
                                                       '$.timeoutSeconds', \(Int64.max)) WHERE id = '\(id)'
            """,
        ])
        try node.start()
        let described = try node.cli(["describe", id])
        XCTAssertEqual(described.status, 0, described.stderr)
        let lines = described.stdout.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("  Memory:") && $0.hasSuffix(" 1Ei") }, described.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("Timeout:") && $0.hasSuffix("d07h") }, described.stdout)
        XCTAssertTrue(
            lines.contains { $0.hasPrefix("Reason:") && $0.contains("resources.memoryBytes: 1152921504606846976 is out of range") },
            described.stdout)
        XCTAssertEqual(try node.cli(["ps"]).status, 0)
        XCTAssertTrue(node.process?.isRunning == true, node.nodeLog())
    }
}
