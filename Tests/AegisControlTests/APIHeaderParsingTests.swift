// APIHeaderParsingTests.swift — the byte-wise parsers on every API request: the bearer token of an
// Authorization header and the route template that labels request metrics; over real HTTP, a
// submission body that is not a SubmitRequest is refused naming the field.
@testable import AegisAPI
import AegisControl
import AegisStore
import Hummingbird
import Logging
import XCTest

final class APIHeaderParsingTests: XCTestCase {
    func testBearerTokenTakesAnyCaseOfTheSchemeAndDropsSpacesAndTabsAroundTheToken() {
        XCTAssertEqual(APIServer.bearerToken("Bearer abc.def"), "abc.def")
        XCTAssertEqual(APIServer.bearerToken("bearer abc"), "abc")
        XCTAssertEqual(APIServer.bearerToken("BEARER abc"), "abc")
        XCTAssertEqual(APIServer.bearerToken("BeArEr  \tabc \t"), "abc")
        XCTAssertEqual(APIServer.bearerToken("Bearer a b"), "a b")
        XCTAssertEqual(APIServer.bearerToken("Bearer    "), "")
    }

    func testBearerTokenRefusesOtherSchemesAndAHeaderWithoutAToken() {
        XCTAssertNil(APIServer.bearerToken("Basic YWxhZGRpbjpvcGVuc2VzYW1l"))
        XCTAssertNil(APIServer.bearerToken("Bearer"))
        XCTAssertNil(APIServer.bearerToken("Bearer "))
        XCTAssertNil(APIServer.bearerToken("Bearerabc"))
        XCTAssertNil(APIServer.bearerToken("Bearex abc"))
        XCTAssertNil(APIServer.bearerToken(""))
        XCTAssertNil(APIServer.bearerToken("Bëarer abc"))
    }

    func testRouteTemplatesUseTheRouterNotation() {
        XCTAssertEqual(RequestMetricsMiddleware<BasicRequestContext>.template("/v1/workloads"), "/v1/workloads")
        XCTAssertEqual(RequestMetricsMiddleware<BasicRequestContext>.template("/v1/workloads/{id}/files/**"), "/v1/workloads/:id/files/**")
        XCTAssertEqual(RequestMetricsMiddleware<BasicRequestContext>.template(nil), "unmatched")
        XCTAssertEqual(RequestMetricsMiddleware<BasicRequestContext>.template("NotFound"), "unmatched")
    }
}

final class APISubmissionBodyTests: StoreBackedTestCase {
    func testASubmissionBodyThatIsNotASubmitRequestIsRefusedNamingTheField() async throws {
        var logger = Logger(label: "test.api")
        logger.logLevel = .error
        let controller = Controller(store: SQLiteStateStore(store), logger: logger)
        let token = try store.createToken(kind: .admin).secret
        let api = try await APIFixture(controller: controller)
        do {
            let auth = [("Authorization", "bearer  \(token)\t")]
            let wrongType = try await api.post("/v1/workloads", body: #"{"run":{"command":"/bin/true"}}"#, headers: auth)
            XCTAssertEqual(wrongType.status, 400)
            XCTAssertTrue(wrongType.body.contains("not a SubmitRequest JSON document"), wrongType.body)
            XCTAssertTrue(wrongType.body.contains("run.command"), wrongType.body)
            let minimal = try await api.post("/v1/workloads", body: #"{"run":{"command":["/bin/true"]}}"#, headers: auth)
            XCTAssertEqual(minimal.status, 201, "env and inputs may be left out: \(minimal.body)")
            let notJSON = try await api.post("/v1/workloads", body: "{", headers: auth)
            XCTAssertEqual(notJSON.status, 400)
            let anonymous = try await api.post("/v1/workloads", body: "{}", headers: [("Authorization", "Basic YTpi")])
            XCTAssertEqual(anonymous.status, 401)
            XCTAssertEqual(try store.listWorkloads().count, 1, "only the good submission is stored")
        } catch {
            await api.stop()
            throw error
        }
        await api.stop()
    }
}
