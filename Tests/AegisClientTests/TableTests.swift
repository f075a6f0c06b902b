import AegisClient
import XCTest

final class TableTests: XCTestCase {
    func testAlignment() {
        var t = TextTable(headers: ["ID", "NAME", "EXIT"])
        t.add(["w-1", "a-much-longer-name", "0"])
        t.add(["w-22", "b"])  // missing cell → empty, no trailing spaces
        t.add(["w-3", "x\ny", "137", "extra"])  // newline flattened, extra cell dropped
        let lines = t.render().split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(
            lines,
            [
                "ID     NAME                 EXIT",
                "w-1    a-much-longer-name   0",
                "w-22   b",
                "w-3    x y                  137",
                "",
            ])
        for l in lines { XCTAssertFalse(l.hasSuffix(" "), String(l)) }
    }

    func testShellQuoting() {
        XCTAssertEqual(shellQuoted(["python3", "agent.py", "--x=1"]), "python3 agent.py --x=1")
        XCTAssertEqual(shellQuoted(["echo", "a b", "it's", ""]), "echo 'a b' 'it'\\''s' ''")
    }
}
