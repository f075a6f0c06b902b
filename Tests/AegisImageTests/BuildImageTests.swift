// BuildImageTests.swift — scripts/build-image.sh makes an image that holds what AEGIS needs to
// run: pulled from its oci-archive, its executables run in a chroot of the rootfs (only the
// libraries ldd listed are there).
import AegisImage
import Foundation
import XCTest

final class BuildImageTests: XCTestCase {
    func testImageHoldsWhatTheExecutablesNeed() async throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        guard FileManager.default.isExecutableFile(atPath: "\(repo)/.build/debug/aegis-supervisor") else {
            throw XCTSkip("the debug executables are not built")
        }
        let dir = try ImageFixtures.temporaryDirectory(self)
        let printed = try ImageFixtures.run([
            "\(repo)/scripts/build-image.sh", "--debug", "--no-build", "--out", "\(dir)/out", "--tag", "t1",
        ])
        XCTAssertEqual(printed, "oci:\(dir)/out/layout:t1\noci-archive:\(dir)/out/aegis-t1.tar:t1\n")
        let store = try ImageStore(root: "\(dir)/store")
        let record = try await store.pull("oci-archive:\(dir)/out/aegis-t1.tar:t1")
        XCTAssertEqual(record.config.config?.Entrypoint, ["/usr/local/bin/aegis"])
        XCTAssertEqual(record.config.config?.Cmd, ["up"])
        let rootfs = store.rootfsPath(record)
        let help = try ImageFixtures.run(["chroot", rootfs, "/usr/local/bin/aegis", "--help"])
        XCTAssertTrue(help.contains("AEGIS: run tenants' AI agents"), help)
        let runtime = try ImageFixtures.run(["chroot", rootfs, "/usr/local/bin/aegis-runtime", "--help"])
        XCTAssertTrue(runtime.contains("AEGIS OCI runtime"), runtime)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(rootfs)/usr/local/bin/aegis-init"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(rootfs)/etc/ssl/certs/ca-certificates.crt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(rootfs)/bin/sh"), "nothing beyond what ldd lists")
    }
}
