// WorkflowRoutesHTTPTests.swift — the /v1/workflows routes over real HTTP (APIFixture, tenant
// bearer tokens, an in-process controller and engine on SQLite): 201 on run, 400 naming the field
// of a bad manifest (nothing stored), 404 for another tenant's workflow on every route, 409 for
// approving a step that does not wait and for retrying a running workflow, 401 without a token.
import AegisControl
import AegisProtocol
import AegisStore
import AegisWorkflow
import Foundation
import XCTest

final class WorkflowRoutesHTTPTests: StoreBackedTestCase {
    static func body(_ manifest: String, file: String = "wf.yaml") throws -> String {
        String(decoding: try JSONEncoder().encode(WorkflowSubmitRequest(manifest: manifest, manifestFile: file)), as: UTF8.self)
    }

    func testStatusCodesOfTheWorkflowRoutes() async throws {
        let link = StepLink()
        link.set("plan", [.exit(0), .hang])  // the second workflow's plan runs until cancelled
        let h = try await WorkflowHarness.start(link, store: store)
        let api = try await APIFixture(controller: h.controller, engine: h.engine)
        _ = try store.createTenant(name: "other")
        let mine = [("Authorization", "Bearer \(try store.createToken(kind: .tenant, tenant: "default").secret)")]
        let theirs = [("Authorization", "Bearer \(try store.createToken(kind: .tenant, tenant: "other").secret)")]
        do {
            let run = try await api.post("/v1/workflows", body: try Self.body(WorkflowEngineTests.approval), headers: mine)
            XCTAssertEqual(run.status, 201, run.body)
            let info = try JSONDecoder().decode(WorkflowInfo.self, from: Data(run.body.utf8))
            XCTAssertEqual(info.tenant, "default")

            let bad = WorkflowEngineTests.approval.replacingOccurrences(of: "dependencies: [plan]", with: "dependencies: [nope]")
            let refused = try await api.post("/v1/workflows", body: try Self.body(bad, file: "bad.yaml"), headers: mine)
            XCTAssertEqual(refused.status, 400, refused.body)
            let error = try JSONDecoder().decode(ErrorBody.self, from: Data(refused.body.utf8))
            XCTAssertEqual(error.field, "steps[1].dependencies[0]")
            XCTAssertTrue(error.error.contains("bad.yaml:"), error.error)
            let notJSON = try await api.post("/v1/workflows", body: "manifest: x", headers: mine)
            XCTAssertEqual(notJSON.status, 400, notJSON.body)
            XCTAssertEqual(try store.listWorkflows(tenant: nil, phases: nil).count, 1, "a refused manifest stores nothing")

            let anonymous = try await api.get("/v1/workflows/\(info.id)")
            XCTAssertEqual(anonymous.status, 401)
            let shown = try await api.get("/v1/workflows/\(info.id)", headers: mine)
            XCTAssertEqual(shown.status, 200, shown.body)
            for (method, path) in [
                ("GET", "/v1/workflows/\(info.id)"), ("POST", "/v1/workflows/\(info.id)/cancel"),
                ("POST", "/v1/workflows/\(info.id)/retry"), ("POST", "/v1/workflows/\(info.id)/approve/review"),
            ] {
                let status =
                    method == "GET"
                    ? try await api.get(path, headers: theirs).status : try await api.post(path, body: "", headers: theirs).status
                XCTAssertEqual(status, 404, "\(method) \(path) by another tenant")
            }
            let listed = try await api.get("/v1/workflows", headers: theirs)
            XCTAssertEqual(try JSONDecoder().decode(WorkflowList.self, from: Data(listed.body.utf8)).items.count, 0)
            let badPhase = try await api.get("/v1/workflows?phase=sleeping", headers: mine)
            XCTAssertEqual(badPhase.status, 400)

            // plan runs first: review does not wait yet, and a running workflow is not retried.
            let early = try await api.post("/v1/workflows", body: try Self.body(WorkflowEngineTests.approval), headers: mine)
            let earlyID = try JSONDecoder().decode(WorkflowInfo.self, from: Data(early.body.utf8)).id
            let notWaiting = try await api.post("/v1/workflows/\(earlyID)/approve/review", body: "", headers: mine)
            XCTAssertEqual(notWaiting.status, 409, notWaiting.body)
            let running = try await api.post("/v1/workflows/\(earlyID)/retry", body: "", headers: mine)
            XCTAssertEqual(running.status, 409, running.body)
            let noSuchStep = try await api.post("/v1/workflows/\(earlyID)/approve/ship", body: "", headers: mine)
            XCTAssertEqual(noSuchStep.status, 404, noSuchStep.body)
            let cancelled = try await api.post("/v1/workflows/\(earlyID)/cancel", body: "", headers: mine)
            XCTAssertEqual(cancelled.status, 200, cancelled.body)

            try await eventually("review waits") {
                let d = try await h.engine.describe(id: info.id, caller: Caller(isAdmin: false, tenant: "default"))
                return d.instances.contains { $0.step == "review" && $0.phase == .waitingApproval }
            }
            let approved = try await api.post("/v1/workflows/\(info.id)/approve/review", body: "", headers: mine)
            XCTAssertEqual(approved.status, 200, approved.body)
        } catch {
            await api.stop()
            await h.stop()
            throw error
        }
        await api.stop()
        await h.stop()
    }
}
