import XCTest
@testable import AegisOCI
import AegisProtocol

final class StateTests: XCTestCase {
    func testStateUsesRuntimeSpecKeys() throws {
        let state = ContainerState(
            ociVersion: "1.2.0", id: "agent-1", status: .running, pid: 4242,
            bundle: "/var/lib/aegis/bundles/agent-1", annotations: ["tenant": "t1"])
        let bytes = try state.jsonBytes()
        guard case .object(let object) = try JSONValue.parse(bytes) else { return XCTFail("not an object") }
        XCTAssertEqual(Set(object.keys), ["ociVersion", "id", "status", "pid", "bundle", "annotations"])
        XCTAssertEqual(object["status"], .string("running"))
        XCTAssertEqual(object["pid"], .number("4242"))
        XCTAssertEqual(object["bundle"], .string("/var/lib/aegis/bundles/agent-1"), "slashes are not escaped")
        XCTAssertEqual(try ContainerState.decode(bytes), state)
        XCTAssertEqual(try ContainerState.decode(try state.jsonBytes(pretty: true)), state)
    }

    func testStoppedStateOmitsPid() throws {
        let state = ContainerState(id: "c", status: .stopped, bundle: "/b")
        guard case .object(let object) = try JSONValue.parse(try state.jsonBytes()) else { return XCTFail("not an object") }
        XCTAssertNil(object["pid"])
        XCTAssertEqual(object["ociVersion"], .string(Spec.currentVersion))
    }

    func testAllStatusesRoundTrip() throws {
        XCTAssertEqual(ContainerStatus.allCases.map(\.rawValue), ["creating", "created", "running", "stopped"])
        for status in ContainerStatus.allCases {
            let json = #"{"ociVersion":"1.0.2","id":"x","status":"\#(status.rawValue)","pid":1,"bundle":"/b"}"#
            XCTAssertEqual(try ContainerState.decode(Array(json.utf8)).status, status)
        }
    }

    func testUnknownStatusIsNamed() {
        let json = #"{"ociVersion":"1.0.2","id":"x","status":"paused","bundle":"/b"}"#
        XCTAssertThrowsError(try ContainerState.decode(Array(json.utf8), file: "/run/aegis/x/state.json")) { error in
            XCTAssertEqual(
                "\(error)", "/run/aegis/x/state.json: status: unknown status \"paused\" (expected creating, created, running or stopped)")
        }
        let badPid = #"{"ociVersion":"1.0.2","id":"x","status":"running","pid":"12","bundle":"/b"}"#
        XCTAssertThrowsError(try ContainerState.decode(Array(badPid.utf8))) { error in
            XCTAssertEqual("\(error)", "state.json: pid: expected integer, found string")
        }
    }
}
