// HostileLayerTests.swift — layers and layouts built to escape or exhaust the store: each one fails
// with one clear error (or is neutralised inside the rootfs), writes nothing outside the store,
// and leaves no usable partial image, record, scratch directory or download behind.
import AegisImage
import Foundation
import XCTest

final class HostileLayerTests: ImageStoreTestCase {
    /// A directory outside the store that hostile entries aim at.
    var outside = ""
    override var limits: UnpackLimits { UnpackLimits(maxBytes: 64 << 20, maxEntries: 10_000) }

    override func setUpWithError() throws {
        try super.setUpWithError()
        outside = try ImageFixtures.temporaryDirectory(self)
    }

    private func pull(_ layout: String) async throws -> ImageRecord {
        try await store.pull(try ImageReference(parsing: "oci:\(layout)"), from: LayoutSource(directory: layout, tag: nil))
    }

    /// Nothing appeared outside, no image is recorded, no rootfs or scratch and no download is left.
    private func assertNothingLeft(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [], "written outside", file: file, line: line)
        XCTAssertEqual(try store.list().count, 0, file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/store/rootfs"), [], file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/store/ingest"), [], file: file, line: line)
    }

    private func hostile(_ layers: [[LayerEntrySpec]], layerTars: [String] = []) throws -> String {
        let layout = "\(dir)/layout-\(UUID().uuidString.prefix(6))"
        try ImageFixtures.makeImage(at: layout, layers: layers, layerTars: layerTars)
        return layout
    }

    func testDotDotIsRefused() async throws {
        let depth = String(repeating: "../", count: 12)
        let layout = try hostile([[["path": "\(depth)\(outside.dropFirst())/x", "type": "file", "content": "escaped"]]])
        await expectImageError(.unsafeLayer, containing: "has a \"..\" component") { try await self.pull(layout) }
        try assertNothingLeft()
    }

    func testAbsolutePathsLandInsideTheRootfs() async throws {
        let layout = try hostile([[["path": "\(outside)/abs", "type": "file", "content": "inside"]]])
        let record = try await pull(layout)
        XCTAssertEqual(try String(contentsOfFile: "\(store.rootfsPath(record))\(outside)/abs", encoding: .utf8), "inside")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [])
    }

    func testSymlinkPlantedByOneLayerAndFollowedByTheNextStaysInside() async throws {
        // Absolute and relative symlinks to the outside directory, then writes through them.
        let planted: [LayerEntrySpec] = [
            ["path": "abs", "type": "symlink", "target": outside],
            ["path": "rel", "type": "symlink", "target": String(repeating: "../", count: 12) + outside.dropFirst()],
            ["path": "etc", "type": "dir"],
            ["path": "to-etc", "type": "symlink", "target": "/etc"],
        ]
        // Through a link whose target exists inside the rootfs: the write lands there.
        let inside = try hostile([planted, [["path": "to-etc/passwd-x", "type": "file", "content": "mine"]]])
        let record = try await pull(inside)
        XCTAssertEqual(try String(contentsOfFile: "\(store.rootfsPath(record))/etc/passwd-x", encoding: .utf8), "mine")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/passwd-x"))
        // Through links to a directory the rootfs lacks: refused, nothing created on the host.
        for link in ["abs", "rel"] {
            let layout = try hostile([planted, [["path": "\(link)/pwned", "type": "file", "content": "escaped"]]])
            await expectImageError(.unsafeLayer, containing: "/\(link) in the rootfs is not a directory") { try await self.pull(layout) }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [], link)
        }
        // A symlink as the last component is replaced, never written through.
        let replace = try hostile([planted, [["path": "abs", "type": "file", "content": "replaced the link"]]])
        let r2 = try await pull(replace)
        XCTAssertEqual(try String(contentsOfFile: "\(store.rootfsPath(r2))/abs", encoding: .utf8), "replaced the link")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [])
    }

    func testHardLinkToAHostFileIsRefused() async throws {
        let layout = try hostile([[["path": "shadow", "type": "hardlink", "target": "/etc/shadow"]]])
        await expectImageError(.unsafeLayer, containing: "hard link shadow → /etc/shadow: the target is not a file of the image") {
            try await self.pull(layout)
        }
        try assertNothingLeft()
        // Through a planted symlink: the target resolves inside the rootfs, where there is none.
        let viaLink = try hostile([
            [["path": "hostetc", "type": "symlink", "target": "/etc"], ["path": "s", "type": "hardlink", "target": "hostetc/shadow"]]
        ])
        await expectImageError(.unsafeLayer, containing: "the target is not a file of the image") { try await self.pull(viaLink) }
        try assertNothingLeft()
    }

    func testSparseTenGiBBombFailsBeforeWriting() async throws {
        let work = "\(dir)/bomb"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try ImageFixtures.run(["truncate", "-s", "10G", "\(work)/zeros"])
        try ImageFixtures.run(["tar", "--sparse", "-C", work, "-cf", "\(dir)/bomb.tar", "zeros"])
        let layout = try hostile([], layerTars: ["\(dir)/bomb.tar"])
        await expectImageError(
            .limitExceeded, containing: "entry zeros (10737418240 bytes) takes the image past its 67108864-byte unpack limit"
        ) {
            try await self.pull(layout)
        }
        try assertNothingLeft()
    }

    func testGzipBombOfZerosFails() async throws {
        let layout = try hostile([[["path": "a", "type": "zeros", "size": 40 << 20], ["path": "b", "type": "zeros", "size": 40 << 20]]])
        await expectImageError(.limitExceeded, containing: "entry b") { try await self.pull(layout) }
        try assertNothingLeft()
    }

    func testTooManyEntriesFail() async throws {
        let entries: [LayerEntrySpec] = (0..<10_001).map { ["path": "f\($0)", "type": "file"] }
        let layout = try hostile([entries])
        await expectImageError(.limitExceeded, containing: "more than 10000 entries") { try await self.pull(layout) }
        try assertNothingLeft()
    }

    /// The layer blob of the layout's only image (found through its manifest).
    private func layerBlob(_ layout: String) throws -> String {
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json"))) as! [String: Any]
        let m = ((index["manifests"] as! [[String: Any]])[0]["digest"] as! String).dropFirst(7)
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(m)"))) as! [String: Any]
        let layer = ((manifest["layers"] as! [[String: Any]])[0]["digest"] as! String).dropFirst(7)
        return "\(layout)/blobs/sha256/\(layer)"
    }

    func testBlobWithWrongDigestOrTruncatedOrMissingFails() async throws {
        let files: [LayerEntrySpec] = [["path": "f", "type": "file", "content": String(repeating: "x", count: 5000)]]
        let flipped = try hostile([files])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: try layerBlob(flipped)))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: try layerBlob(flipped)))
        await expectImageError(.digestMismatch, containing: "the content hashes to sha256:") { try await self.pull(flipped) }
        try assertNothingLeft()

        let truncated = try hostile([files])
        try ImageFixtures.run(["truncate", "-s", "100", try layerBlob(truncated)])
        await expectImageError(.digestMismatch, containing: "100 bytes arrived") { try await self.pull(truncated) }
        try assertNothingLeft()

        let missing = try hostile([files])
        try FileManager.default.removeItem(atPath: try layerBlob(missing))
        await expectImageError(.notFound, containing: "ENOENT") { try await self.pull(missing) }
        try assertNothingLeft()
        XCTAssertEqual(store.blobs.list().filter { store.blobs.path(of: $0).hasSuffix(String(try! layerBlob(missing).suffix(64))) }, [])
    }

    func testDirectoriesTooDeepEvenThroughSymlinksFail() async throws {
        let deepOK = String(repeating: "a/", count: 100) + "f"
        let ok = try hostile([[["path": deepOK, "type": "file", "content": "x"]]])
        _ = try await pull(ok)
        let tooDeep = try hostile([[["path": String(repeating: "b/", count: 130) + "f", "type": "file"]]])
        await expectImageError(.limitExceeded, containing: "levels deep in the rootfs (at most 128)") { try await self.pull(tooDeep) }
        // A symlink to a deep directory, then more levels below the link: depth is counted resolved.
        let hop = try hostile([
            [
                ["path": String(repeating: "c/", count: 100) + "f", "type": "file"],
                ["path": "s", "type": "symlink", "target": String(repeating: "c/", count: 99) + "c"],
                ["path": "s/" + String(repeating: "d/", count: 40) + "f", "type": "file"],
            ]
        ])
        await expectImageError(.limitExceeded, containing: "at most 128") { try await self.pull(hop) }
        XCTAssertEqual(try store.list().count, 1, "only the first image")
    }

    func testImpliedParentDirectoriesCountAsEntries() async throws {
        let entries: [LayerEntrySpec] = (0..<100).map { ["path": "\($0)/" + String(repeating: "a/", count: 120) + "f", "type": "file"] }
        let layout = try hostile([entries])
        await expectImageError(.limitExceeded, containing: "directories it implies included") { try await self.pull(layout) }
        try assertNothingLeft()
    }

    func testRepeatedOpaqueWhiteoutsStayLinear() async throws {
        let files: [LayerEntrySpec] = (0..<3000).map { ["path": "d/\($0)", "type": "file"] }
        let opaques: [LayerEntrySpec] = (0..<3000).map { _ in ["path": "d/.wh..wh..opq", "type": "file"] }
        let layout = try hostile([files, opaques])
        let start = Date()
        let record = try await pull(layout)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "3,000 repeated opaque whiteouts must not cost 3,000 directory scans")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(store.rootfsPath(record))/d"), [])
    }

    func testOnlyUserXattrsAreKept() async throws {
        let layout = try hostile([
            [
                [
                    "path": "f", "type": "file", "content": "x",
                    "xattrs": ["user.ok": "1", "security.capability": "\u{1}", "trusted.overlay.opaque": "y"],
                ]
            ]
        ])
        let record = try await pull(layout)
        let listed = try ImageFixtures.run([
            "python3", "-c", "import os,sys; print(sorted(os.listxattr(sys.argv[1])))", "\(store.rootfsPath(record))/f",
        ])
        XCTAssertEqual(listed, "['user.ok']\n")
    }

    func testBlobsLargerThanTheImageLimitAreNotFetched() async throws {
        let big = "\(dir)/big"
        try ImageFixtures.makeImage(
            at: big, layers: [[["path": "z", "type": "zeros", "size": 70 << 20]]], extra: ["--compression", "none"])
        await expectImageError(.limitExceeded, containing: "nothing fetched") { try await self.pull(big) }
        try assertNothingLeft()
        XCTAssertEqual(store.blobs.list().count, 0)
    }

    func testCompressedOCIArchiveIsRefused() async throws {
        let layout = "\(dir)/l"
        try ImageFixtures.makeImage(at: layout, layers: [[["path": "f", "type": "file"]]], extra: ["--archive", "\(dir)/a.tar"])
        try ImageFixtures.run(["zstd", "-q", "\(dir)/a.tar", "-o", "\(dir)/a.tar.zst"])
        await expectImageError(.invalidManifest, containing: "not a tar") {
            try await self.store.pull("oci-archive:\(self.dir)/a.tar.zst")
        }
        try assertNothingLeft()
    }

    func testLayerNotMatchingTheConfigsDiffIDFails() async throws {
        let layout = "\(dir)/lying-config"
        try ImageFixtures.makeImage(at: layout, layers: [[["path": "f", "type": "file", "content": "x"]]], extra: ["--wrong-diff-id"])
        await expectImageError(.digestMismatch, containing: "the uncompressed layer hashes to sha256:") { try await self.pull(layout) }
        try assertNothingLeft()
    }

    func testLayoutSymlinkedBlobIsNotFollowed() async throws {
        let layout = try hostile([[["path": "f", "type": "file", "content": "x"]]])
        let blob = try layerBlob(layout)
        try FileManager.default.moveItem(atPath: blob, toPath: "\(outside)/real")
        try FileManager.default.createSymbolicLink(atPath: blob, withDestinationPath: "\(outside)/real")
        // Refused for good (not retried as I/O): ELOOP is unsafe content.
        await expectImageError(.unsafeLayer, containing: "ELOOP") { try await self.pull(layout) }
        XCTAssertEqual(store.blobs.list().count, 1, "only the config was stored")
    }
}
