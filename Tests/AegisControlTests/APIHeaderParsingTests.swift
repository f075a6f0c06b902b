// APIHeaderParsingTests.swift — the byte-wise parsers on every API request: the bearer token of an
// Authorization header and the route template that labels request metrics.
@testable import AegisAPI
import Hummingbird
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
