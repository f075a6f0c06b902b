// SubmitRequestJSONTests.swift — submission bodies read by the strict JSON parser:
// SubmitRequest(json:) gives JSONDecoder's value for every body both accept; errors name the field.
import AegisProtocol
import Foundation
import XCTest

final class SubmitRequestJSONTests: XCTestCase {
    func submit(_ text: String) throws -> SubmitRequest {
        try SubmitRequest(json: Array(text.utf8))
    }

    func testSubmissionsReadAsJSONDecoderReadsThem() throws {
        let bodies = [
            #"{"run":{"command":["/bin/true"]}}"#,
            #"{"run":{"env":[],"command":["/bin/sh","-c","echo \"hi\" \u00e9"]},"inputs":{}}"#,
            #"{"run":{"runtime":"python3","cpus":"0.5","memory":"1.5G","gpus":2,"env":["A=1"],"name":"n","restart":"on-failure","#
                + #""timeout":"90s","network":"egress","allow":["example.com:443"],"reach":["gpu"],"command":["x"],"#
                + #""image":"localhost:5000/a:b","imagePullPolicy":"Always","rootfs":"/r"},"inputs":{"a.txt":"aGk="}}"#,
            #"{"manifest":"name: a\nruntime: python3\n","manifestFile":"a.yaml","inputs":{"x":"","y/z":"AA=="}}"#,
            #"{"manifest":null,"run":{"command":[],"gpus":null,"unknown":{"deep":[1,{"x":null}]}},"extra":true}"#,
            #"{}"#,
        ]
        for body in bodies {
            let expected = try JSONDecoder().decode(SubmitRequest.self, from: Data(body.utf8))
            XCTAssertEqual(try submit(body), expected, body)
        }
    }

    func testASubmissionOfTheWrongShapeIsRefusedNamingTheField() {
        let bad: [(String, String)] = [
            (#"{"run":{"command":"/bin/true"}}"#, "run.command: expected an array of strings, found string"),
            (#"{"run":{"command":["a",1]}}"#, "run.command[1]: expected a string, found number 1"),
            (#"{"run":{}}"#, "run: missing command"),
            (#"{"run":{"command":[],"gpus":"2"}}"#, "run.gpus: expected an integer, found string"),
            (#"{"run":{"command":[],"gpus":1.5}}"#, "run.gpus: number 1.5 is not an integer of 64 bits"),
            (#"{"inputs":{"a":5}}"#, "inputs.a: expected a string, found number 5"),
            (
                #"{"run":{"command":[],"gpus":"# + String(repeating: "9", count: 5000) + "}}",
                "run.gpus: number " + String(repeating: "9", count: 40) + "… is not an integer of 64 bits"
            ),
            (#"{"run":[]}"#, "run: expected an object, found array"),
            (#"[]"#, ": expected an object, found array"),
            (#"{"run":"#, ": not JSON: line 1, column 8: unexpected end of input, expected a value"),
            (
                "{\"run\":{\"command\":[\"\u{01}\"]}}",
                ": not JSON: line 1, column 21: control character byte 0x1 in string (must be escaped)"
            ),
        ]
        for (body, problem) in bad {
            XCTAssertThrowsError(try submit(body), body) { error in
                guard let e = error as? DecodingError else { return XCTFail("\(body): \(error)") }
                XCTAssertEqual(Self.describe(e), problem, body)
            }
        }
    }

    /// The path and reason, as the API renders them (APIServer.decodingProblem's shape).
    static func describe(_ e: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.reduce("") { p, key in
                key.intValue.map { p + "[\($0)]" } ?? (p.isEmpty ? "" : p + ".") + key.stringValue
            }
        }
        switch e {
        case let .keyNotFound(key, c): return path(c) + ": missing \(key.stringValue)"
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): return path(c) + ": " + c.debugDescription
        @unknown default: return "\(e)"
        }
    }

    /// Not a timed assertion: prints both readers' time per body so a regression is visible.
    func testPrintsTheCostPerSubmissionBesideJSONDecoders() throws {
        let body = Array(#"{"run":{"env":[],"command":["/bin/true"]},"inputs":{}}"#.utf8)
        let iterations = 5000
        let decoder = JSONDecoder()
        let clock = ContinuousClock()
        let a = try clock.measure { for _ in 0..<iterations { _ = try SubmitRequest(json: body) } }
        let b = try clock.measure { for _ in 0..<iterations { _ = try decoder.decode(SubmitRequest.self, from: Data(body)) } }
        print("SubmitRequest(json:) \(a / iterations) per body; JSONDecoder \(b / iterations)")
    }
}
