// Workload helpers on a NodeHarness: submit a manifest over HTTP, read a workload's detail, wait
// for a state.
import AegisProtocol
import Foundation
import XCTest

extension NodeHarness {
    /// Submits a manifest over HTTP as the admin; returns the workload id.
    func submit(manifest: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let body = try JSONEncoder().encode(SubmitRequest(manifest: manifest, manifestFile: "agent.yaml"))
        let r = try http("POST", "/v1/workloads", token: adminToken(), body: body)
        XCTAssertEqual(r.status, 201, String(decoding: r.body, as: UTF8.self), file: file, line: line)
        return try JSONDecoder().decode(Workload.self, from: r.body).id
    }

    func workloadDetail(_ id: String) throws -> WorkloadDetail {
        try JSONDecoder().decode(WorkloadDetail.self, from: http("GET", "/v1/workloads/\(id)", token: adminToken()).body)
    }

    /// Polls the workload (every 100 ms) until `done` holds or `timeout` seconds passed; returns the last state.
    func waitFor(_ id: String, timeout: TimeInterval, _ done: (Workload) -> Bool) throws -> Workload {
        let deadline = Date().addingTimeInterval(timeout)
        var w = try workloadDetail(id).workload
        while !done(w) && Date() < deadline {
            usleep(100_000)
            w = try workloadDetail(id).workload
        }
        return w
    }
}
