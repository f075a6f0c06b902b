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

    func testFanOutItems() {
        XCTAssertEqual(FanOutItems.parse("a\n\nb\r\n  \nc"), ["a", "b", "c"])
        XCTAssertEqual(FanOutItems.parse(" [\"x\", 2, true]"), ["x", "2", "true"])
        XCTAssertNil(FanOutItems.parse("[1, [2]]"))
        XCTAssertNil(FanOutItems.jsonList("a, b"))
        XCTAssertEqual(FanOutItems.jsonList("[]"), [])
    }
}
