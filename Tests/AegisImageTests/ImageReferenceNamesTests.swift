// ImageReference.names: the spellings a node advertises for the scheduler's image locality.
import AegisImage
import XCTest

final class ImageReferenceNamesTests: XCTestCase {
    func names(_ text: String) throws -> Set<String> { Set(try ImageReference(parsing: text).names) }

    func testEverySpellingOfADockerHubReferenceParsesBackToIt() throws {
        let expected: Set = [
            "registry-1.docker.io/library/python:3.12", "docker.io/library/python:3.12", "library/python:3.12",
            "docker.io/python:3.12", "python:3.12",
        ]
        XCTAssertEqual(try names("python:3.12"), expected)
        XCTAssertEqual(try names("docker.io/library/python:3.12"), expected)
        for n in expected {
            XCTAssertEqual(try ImageReference(parsing: n), try ImageReference(parsing: "python:3.12"), n)
        }
        XCTAssertTrue(try names("python").isSuperset(of: ["python", "python:latest", "docker.io/library/python"]))
    }

    func testOtherRegistriesAndLocalSourcesHaveOneSpellingPerImpliedTag() throws {
        XCTAssertEqual(try names("reg.example:5000/agents/py:1"), ["reg.example:5000/agents/py:1"])
        XCTAssertEqual(try names("reg.example:5000/agents/py"), ["reg.example:5000/agents/py:latest", "reg.example:5000/agents/py"])
        let digest = "sha256:" + String(repeating: "b", count: 64)
        XCTAssertEqual(try names("reg.example/a@\(digest)"), ["reg.example/a@\(digest)"])
        XCTAssertEqual(try names("oci:/srv/images/py:1"), ["oci:/srv/images/py:1"])
    }
}
