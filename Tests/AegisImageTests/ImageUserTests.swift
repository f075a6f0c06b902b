// ImageUser: an image config's `User` resolved in the image's own /etc/passwd and /etc/group,
// read beneath its rootfs.
import AegisImage
import Foundation
import XCTest

final class ImageUserTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = try ImageFixtures.temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbroken:x\n".write(
            toFile: root + "/etc/passwd", atomically: false, encoding: .utf8)
        try "root:x:0:\nstaff:x:50:app\n".write(toFile: root + "/etc/group", atomically: false, encoding: .utf8)
    }

    func resolve(_ user: String?) throws -> ImageUser { try ImageUser.resolve(user, rootfs: root) }

    func testNamesAndNumbersAsDockerReadsThem() throws {
        XCTAssertEqual(try resolve(nil), ImageUser(uid: 0, gid: 0))
        XCTAssertEqual(try resolve(""), ImageUser(uid: 0, gid: 0))
        XCTAssertEqual(try resolve("app"), ImageUser(uid: 1000, gid: 1001), "the passwd entry's primary group")
        XCTAssertEqual(try resolve("1000"), ImageUser(uid: 1000, gid: 1001))
        XCTAssertEqual(try resolve("4242"), ImageUser(uid: 4242, gid: 0), "a uid without an entry: group 0")
        XCTAssertEqual(try resolve("app:staff"), ImageUser(uid: 1000, gid: 50))
        XCTAssertEqual(try resolve("7:8"), ImageUser(uid: 7, gid: 8))
    }

    func testUnknownNamesAreErrorsNamingThem() {
        XCTAssertThrowsError(try resolve("nobody")) {
            XCTAssertTrue("\($0)".contains("no user \"nobody\" in the image's /etc/passwd"), "\($0)")
        }
        XCTAssertThrowsError(try resolve("app:wheel")) { XCTAssertTrue("\($0)".contains("no group \"wheel\""), "\($0)") }
    }

    func testASymlinkedPasswdResolvesInsideTheImageAndAFIFOIsRefused() throws {
        // /etc/passwd → /etc/host-passwd: with the image as "/", that is the image's file, never the host's.
        try FileManager.default.moveItem(atPath: root + "/etc/passwd", toPath: root + "/etc/host-passwd")
        XCTAssertEqual(symlink("/etc/host-passwd", root + "/etc/passwd"), 0)
        XCTAssertEqual(try resolve("app"), ImageUser(uid: 1000, gid: 1001))
        unlink(root + "/etc/passwd")
        XCTAssertEqual(symlink("../../../../../../etc/passwd", root + "/etc/passwd"), 0)
        XCTAssertThrowsError(try resolve("root"), "the host's /etc/passwd was read") { _ in }
        unlink(root + "/etc/passwd")
        XCTAssertEqual(mkfifo(root + "/etc/passwd", 0o644), 0)
        XCTAssertThrowsError(try resolve("app")) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }
}
