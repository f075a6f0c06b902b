import AegisWorkflow
import XCTest

final class TemplateTests: XCTestCase {
    func testParsesReferencesAndText() throws {
        let t = try Template.parse("topic={{ parameters.topic }} code={{steps.plan.exitCode}} {{steps.plan.outputs.tasks.json}}{{item}}")
        XCTAssertEqual(t.refs, [.parameter("topic"), .exitCode(step: "plan"), .output(step: "plan", file: "tasks.json"), .item])
        let rendered = t.render { r in "<\(r)>" }
        XCTAssertEqual(
            rendered, "topic=<{{parameters.topic}}> code=<{{steps.plan.exitCode}}> <{{steps.plan.outputs.tasks.json}}><{{item}}>")
        XCTAssertEqual(try Template.parse("plain").parts, [.text("plain")])
        XCTAssertEqual(try Template.parse("{{workflow.status}}").refs, [.workflowStatus])
    }

    func testRefusesBadReferences() {
        for bad in [
            "{{parameters.topic", "{{params.x}}", "{{steps.plan.stdout}}", "{{steps.Plan.exitCode}}", "{{}}", "{{steps.plan.outputs.}}",
        ] {
            XCTAssertThrowsError(try Template.parse(bad), bad)
        }
    }

    func testConditionGrammarAndEvaluation() throws {
        let values: [TemplateRef: String] = [.exitCode(step: "plan"): "0", .parameter("mode"): "fast", .parameter("n"): "10"]
        func eval(_ text: String) throws -> Bool {
            try Condition(text).evaluate { r in values[r] ?? "" }
        }
        XCTAssertTrue(try eval("{{steps.plan.exitCode}} == 0"))
        XCTAssertFalse(try eval("{{steps.plan.exitCode}} != 0"))
        XCTAssertTrue(try eval("{{parameters.n}} > 9 && {{parameters.n}} <= 10"))  // numeric, not "10" < "9"
        XCTAssertTrue(try eval("'{{parameters.mode}}' == 'fast' || false"))
        XCTAssertTrue(try eval("!({{parameters.mode}} == \"slow\")"))
        XCTAssertTrue(try eval("!false && (1 < 2 || 3 >= 4)"))
        XCTAssertTrue(try eval("'abc' < 'abd'"))
        XCTAssertTrue(try eval("-1.5 < 0"))
        XCTAssertThrowsError(try eval("{{parameters.mode}}"))  // "fast" is not a boolean
        XCTAssertEqual(try Condition("{{steps.plan.exitCode}} == 0 && {{item}} != ''").refs, [.exitCode(step: "plan"), .item])
    }

    func testConditionSyntaxErrors() {
        let cases: [(String, String)] = [
            ("", "empty"), ("1 ==", "expected a value"), ("(1 == 1", "expected \")\""), ("1 == 1 1", "expected an operator"),
            ("fast == 1", "fast is not a value"), ("'open", "not closed"), ("{{steps.plan.exitCode == 0", "not closed"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try Condition(text), text) { e in
                XCTAssertTrue((e as! TemplateSyntaxError).message.contains(fragment), "\(text): \(e)")
            }
        }
    }

    /// The tree is bounded: a stored workflow is parsed and evaluated again on every resume, so a
    /// condition that overflowed the stack would stop the controller each time it starts.
    func testConditionsAreBoundedInLengthOperatorsAndNesting() throws {
        let hundred = Array(repeating: "true", count: 101).joined(separator: " && ")
        XCTAssertTrue(try Condition(hundred).evaluate { _ in "" })
        let cases: [(String, String)] = [
            (Array(repeating: "true", count: 102).joined(separator: " && "), "more than 100 operators"),
            (String(repeating: "!", count: 20_000) + "true", "characters, more than 4096"),
            (String(repeating: "!", count: 101) + "true", "more than 100 operators"),
            (String(repeating: "(", count: 17) + "true" + String(repeating: ")", count: 17), "nested deeper than 16"),
            (Array(repeating: "1 == 1", count: 60).joined(separator: " || "), "more than 100 operators"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try Condition(text), String(text.prefix(40))) { e in
                XCTAssertTrue((e as! TemplateSyntaxError).message.contains(fragment), "\(text.prefix(40)): \(e)")
            }
        }
        XCTAssertNoThrow(try Condition(String(repeating: "(", count: 16) + "true" + String(repeating: ")", count: 16)))
    }

    func testFanOutItems() {
        XCTAssertEqual(FanOutItems.parse("a\n\nb\r\n  \nc"), ["a", "b", "c"])
        XCTAssertEqual(FanOutItems.parse(" [\"x\", 2, true]"), ["x", "2", "true"])
        XCTAssertNil(FanOutItems.parse("[1, [2]]"))
        XCTAssertNil(FanOutItems.jsonList("a, b"))
        XCTAssertEqual(FanOutItems.jsonList("[]"), [])
    }
}
