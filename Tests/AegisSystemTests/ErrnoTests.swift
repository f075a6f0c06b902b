// ErrnoTests.swift — errno names from glibc, the error texts every module prints.
import AegisSystem
import Glibc
import XCTest

final class ErrnoTests: XCTestCase {
    func testNamesComeFromGlibc() {
        XCTAssertEqual(Errno(ENOENT).name, "ENOENT")
        XCTAssertEqual(Errno(EACCES).name, "EACCES")
        XCTAssertEqual(Errno(EXDEV).name, "EXDEV")
        XCTAssertEqual(Errno(EHOSTUNREACH).name, "EHOSTUNREACH")
        XCTAssertEqual(Errno(EBUSY).name, "EBUSY")
        XCTAssertEqual(Errno(9999).name, "errno", "a number glibc doesn't know")
    }

    func testTexts() {
        XCTAssertEqual(Errno(ENOENT).text, "No such file or directory")
        XCTAssertEqual(Errno(ENOENT).description, "ENOENT (2)")
        XCTAssertEqual(Errno(ENOENT).explained, "ENOENT (2): No such file or directory")
        XCTAssertEqual(Errno(9999).description, "errno (9999)")
    }

    func testSystemErrorNamesStepPathAndErrno() throws {
        XCTAssertThrowsError(try FileSystem.readBytes("/nonexistent/aegis-file")) { error in
            let e = error as? SystemError
            XCTAssertEqual(e?.step, "open")
            XCTAssertEqual(e?.path, "/nonexistent/aegis-file")
            XCTAssertEqual(e?.errno, Errno(ENOENT))
            XCTAssertEqual(e?.description, "open /nonexistent/aegis-file: ENOENT (2): No such file or directory")
        }
        XCTAssertEqual(SystemError("pidfd_open", code: ESRCH).description, "pidfd_open: ESRCH (3): No such process")
    }

    func testCurrentReadsTheThreadsErrno() {
        let rc = close(-1)
        let error = Errno.current
        XCTAssertEqual(rc, -1)
        XCTAssertEqual(error, Errno(EBADF))
    }
}
