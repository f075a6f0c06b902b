// LayoutPullTests.swift — pulls from OCI layouts and archives built by the tests: the unpacked tree
// equals umoci's file by file, whiteouts and opaque directories apply, every compression works,
// platforms resolve, concurrent pulls share downloads, and prune keeps what is in use.
import AegisImage
import AegisSystem
import Foundation
import XCTest

final class LayoutPullTests: ImageStoreTestCase {
    /// Two layers exercising every entry kind and both whiteout forms.
    nonisolated(unsafe) static let baseLayer: [LayerEntrySpec] = [
        ["path": "etc", "type": "dir"],
        ["path": "etc/hello", "type": "file", "content": "hello\n", "mode": 0o644],
        ["path": "etc/secret", "type": "file", "content": "s\n", "mode": 0o600, "uid": 1000, "gid": 1000],
        ["path": "usr/bin", "type": "dir", "mode": 0o755],
        ["path": "usr/bin/tool", "type": "file", "content": "#!/bin/sh\necho tool\n", "mode": 0o755],
        ["path": "usr/bin/tool-again", "type": "hardlink", "target": "usr/bin/tool"],
        ["path": "bin", "type": "symlink", "target": "usr/bin"],
        ["path": "opaque/old-a", "type": "file", "content": "a"],
        ["path": "opaque/old-b", "type": "file", "content": "b"],
        ["path": "gone", "type": "file", "content": "gone"],
        ["path": "attrs", "type": "file", "content": "x", "xattrs": ["user.aegis": "1"]],
        ["path": "dev/null", "type": "char"],
        ["path": "fifo", "type": "fifo"],
    ]
    nonisolated(unsafe) static let upperLayer: [LayerEntrySpec] = [
        ["path": "opaque/.wh..wh..opq", "type": "file"],
        ["path": "opaque/new", "type": "file", "content": "new"],
        ["path": ".wh.gone", "type": "file"],
        ["path": "etc/hello", "type": "file", "content": "replaced\n", "mode": 0o640],
        ["path": "bin/via-symlink", "type": "file", "content": "through bin -> usr/bin"],
    ]

    func testPullFromLayoutMatchesUmociFileByFile() async throws {
        let layout = "\(dir)/layout"
        try ImageFixtures.makeImage(at: layout, tag: "v1", layers: [Self.baseLayer, Self.upperLayer])
        let warnings = StartCounter()
        let record = try await store.pull(try ImageReference(parsing: "oci:\(layout):v1"), from: LayoutSource(directory: layout, tag: "v1"))
        {
            if case let .unpacked(lines, leftOut) = $0 {
                for line in lines { warnings.add(line) }
                XCTAssertEqual(leftOut, 0)
            }
        }
        let reported = warnings.counts.keys.sorted().joined(separator: "\n")
        XCTAssertTrue(reported.contains("skipped device node dev/null") && reported.contains("skipped FIFO fifo"), reported)
        let ours = store.rootfsPath(record)
        XCTAssertEqual(try String(contentsOfFile: "\(ours)/etc/hello", encoding: .utf8), "replaced\n")
        XCTAssertEqual(try String(contentsOfFile: "\(ours)/usr/bin/via-symlink", encoding: .utf8), "through bin -> usr/bin")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(ours)/gone"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(ours)/opaque"), ["new"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(ours)/dev/null"), "device nodes are skipped")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(ours)/fifo"), "FIFOs are skipped")

        // The peer: umoci unpacks the same image; the trees must agree entry by entry (umoci
        // creates the device node and FIFO we skip, and its rootfs directory mode differs).
        try ImageFixtures.run(["umoci", "unpack", "--image", "\(layout):v1", "\(dir)/bundle"])
        let skipped: Set<String> = ["dev/null", "fifo"]
        let theirs = try ImageFixtures.describeTree("\(dir)/bundle/rootfs").filter {
            !skipped.contains(String($0.split(separator: " ")[0]))
        }
        XCTAssertEqual(try ImageFixtures.describeTree(ours), theirs)
    }

    func testEveryCompressionAndBothManifestFlavours() async throws {
        for (i, extra) in [["--compression", "zstd"], ["--compression", "none"], ["--docker"]].enumerated() {
            let layout = "\(dir)/layout\(i)"
            try ImageFixtures.makeImage(at: layout, layers: [Self.baseLayer], extra: extra)
            let record = try await store.pull(try ImageReference(parsing: "oci:\(layout)"), from: LayoutSource(directory: layout, tag: nil))
            XCTAssertEqual(try String(contentsOfFile: "\(store.rootfsPath(record))/etc/hello", encoding: .utf8), "hello\n", "\(extra)")
        }
        // The same layers (zstd vs none differ as blobs) → rootfs directories are per layer chain.
        XCTAssertEqual(try store.list().count, 3)
    }

    func testIndexResolvesToTheNodePlatformAndRefusesOthers() async throws {
        let multi = "\(dir)/multi"
        try ImageFixtures.makeImage(at: multi, layers: [Self.baseLayer], extra: ["--platforms", "linux/arm64,linux/amd64"])
        let record = try await store.pull(try ImageReference(parsing: "oci:\(multi)"), from: LayoutSource(directory: multi, tag: nil))
        XCTAssertEqual(record.config.architecture, "amd64")
        let armOnly = "\(dir)/arm"
        try ImageFixtures.makeImage(at: armOnly, layers: [Self.baseLayer], extra: ["--platforms", "linux/arm64,linux/s390x"])
        await expectImageError(.unsupported, containing: "no manifest for linux/amd64 (the index has linux/arm64, linux/s390x)") {
            try await self.store.pull(try ImageReference(parsing: "oci:\(armOnly)"), from: LayoutSource(directory: armOnly, tag: nil))
        }
    }

    func testOCIArchiveAndImageConfig() async throws {
        let layout = "\(dir)/layout"
        try ImageFixtures.makeImage(
            at: layout, tag: "t", layers: [Self.baseLayer],
            extra: ["--archive", "\(dir)/image.tar", "--env", "A=1", "--cmd", "[\"/bin/tool\"]", "--workdir", "/etc", "--user", "1000"])
        let source = try LayoutSource.extractingArchive("\(dir)/image.tar", tag: "t", into: "\(dir)/scratch")
        let record = try await store.pull(try ImageReference(parsing: "oci-archive:\(dir)/image.tar:t"), from: source)
        XCTAssertEqual(record.reference, "oci-archive:\(dir)/image.tar:t")
        XCTAssertEqual(record.config.config?.Env, ["A=1"])
        XCTAssertEqual(record.config.config?.Cmd, ["/bin/tool"])
        XCTAssertEqual(record.config.config?.WorkingDir, "/etc")
        XCTAssertEqual(record.config.config?.User, "1000")
        await expectImageError(.notFound, containing: "no image tagged nope (tags: t)") {
            try await self.store.pull(try ImageReference(parsing: "oci:\(layout):nope"), from: LayoutSource(directory: layout, tag: "nope"))
        }
    }

    func testFIFOsAndDevicesAreRefusedWithoutBlocking() async throws {
        // A FIFO as an archive, as a layout's index.json and as a blob: each is an error at once
        // (an open without O_NONBLOCK would wait for a writer forever).
        XCTAssertEqual(mkfifo("\(dir)/fifo.tar", 0o600), 0)
        await expectImageError(.invalidManifest, containing: "is not a regular file") {
            try await self.store.pull("oci-archive:\(self.dir)/fifo.tar")
        }
        await expectImageError(.invalidManifest, containing: "is not a regular file") {
            try await self.store.pull("oci-archive:/dev/zero")
        }
        let layout = "\(dir)/layout"
        try ImageFixtures.makeImage(at: layout, tag: "t", layers: [Self.baseLayer])
        let blobs = "\(layout)/blobs/sha256"
        for name in FileSystem.entryNames(in: blobs) where try FileSystem.readBytes("\(blobs)/\(name)").starts(with: [0x1f, 0x8b]) {
            unlink("\(blobs)/\(name)")
            XCTAssertEqual(mkfifo("\(blobs)/\(name)", 0o600), 0)  // the layer blob
        }
        await expectImageError(.invalidManifest, containing: "is not a regular file") {
            try await self.store.pull("oci:\(layout):t")
        }
        unlink("\(layout)/index.json")
        XCTAssertEqual(mkfifo("\(layout)/index.json", 0o600), 0)
        await expectImageError(.invalidManifest, containing: "index.json is not a regular file") {
            try await self.store.pull("oci:\(layout):t")
        }
    }

    func testConcurrentPullsShareOneDownloadAndUnpack() async throws {
        let layout = "\(dir)/layout"
        try ImageFixtures.makeImage(at: layout, layers: [Self.baseLayer, Self.upperLayer])
        let started = StartCounter()
        let ref = try ImageReference(parsing: "oci:\(layout)")
        let store = self.store!
        let records = try await withThrowingTaskGroup(of: ImageRecord.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await store.pull(ref, from: LayoutSource(directory: layout, tag: nil)) { event in
                        if case let .blobStarted(d, _) = event { started.add(d.description) }
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(Set(records.map(\.rootfsKey)).count, 1)
        XCTAssertEqual(started.counts.values.max(), 1, "each blob downloaded once: \(started.counts)")
        XCTAssertEqual(started.counts.count, 3, "config and two layers")
        let rootfs = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/store/rootfs")
        XCTAssertEqual(rootfs, [records[0].rootfsKey], "one rootfs, no scratch left")
    }

    func testRemoveAndPruneKeepWhatIsInUseOrShared() async throws {
        let a = "\(dir)/a"
        let b = "\(dir)/b"
        try ImageFixtures.makeImage(at: a, layers: [Self.baseLayer])
        try ImageFixtures.makeImage(at: b, layers: [Self.baseLayer, Self.upperLayer])
        let ra = try await store.pull(try ImageReference(parsing: "oci:\(a)"), from: LayoutSource(directory: a, tag: nil))
        let rb = try await store.pull(try ImageReference(parsing: "oci:\(b)"), from: LayoutSource(directory: b, tag: nil))
        XCTAssertEqual(ra.layers[0].digest, rb.layers[0].digest, "b's first layer is a's only one")

        await expectImageError(.inUse, containing: "used by a running sandbox") {
            try await self.store.remove("oci:\(b)", inUse: [rb.rootfsKey])
        }
        _ = try await store.remove("oci:\(b)")
        let pruned = try await store.prune(inUse: [])
        XCTAssertEqual(pruned.rootfs, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.rootfsPath(rb)))
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.rootfsPath(ra)))
        XCTAssertTrue(store.blobs.has(ra.layers[0]), "the shared layer stays")
        XCTAssertFalse(store.blobs.has(rb.layers[1]), "b's own layer goes")

        // A rootfs a live sandbox still uses survives prune after its record is gone.
        _ = try await store.remove("oci:\(a)")
        let kept = try await store.prune(inUse: [ra.rootfsKey])
        XCTAssertEqual(kept.rootfs, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.rootfsPath(ra)))
        await expectImageError(.notFound, containing: "no image oci:\(a)") { try await self.store.remove("oci:\(a)") }
    }
}

extension LayoutPullTests {
    /// Prune waits for a pull in progress (the "gc" lock it holds shared) and leaves its download
    /// alone; once the pull is over, prune takes what it left.
    func testGarbageCollectionRemovesTheOldestUnusedImagesFirst() async throws {
        var records: [ImageRecord] = []
        for (i, name) in ["a", "b", "c"].enumerated() {
            let layout = "\(dir)/\(name)"
            try ImageFixtures.makeImage(at: layout, layers: [[["path": "only-\(name)", "type": "file", "content": name]]])
            records.append(
                try await store.pull(try ImageReference(parsing: "oci:\(layout)"), from: LayoutSource(directory: layout, tag: nil)))
            if i < 2 { usleep(5_000) }  // distinct pull times
        }
        // b runs: a goes first (oldest), then c; b never, even when more is asked for.
        var rounds = 0
        let removed = try await store.collectGarbage(inUse: { [records[1].rootfsKey] }) {
            rounds += 1
            return rounds > 5
        }
        XCTAssertEqual(removed.map(\.reference), ["oci:\(dir)/a", "oci:\(dir)/c"], "oldest unused first, then nothing left to take")
        XCTAssertEqual(try store.list().map(\.reference), ["oci:\(dir)/b"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.rootfsPath(records[0])))
        XCTAssertFalse(store.blobs.has(records[2].layers[0]), "what it freed is pruned")
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.rootfsPath(records[1])))
        // Enough at once: nothing is removed.
        let none = try await store.collectGarbage(inUse: { [] }) { true }
        XCTAssertEqual(none.count, 0)
    }

    func testPruneWaitsForAPullInProgress() async throws {
        let download = "\(dir)/store/ingest/\(String(repeating: "a", count: 64)).1.1"
        let pruned = PruneProbe()
        let store = self.store!
        let prune = try await store.blobs.withLock("gc", shared: true) {
            FileManager.default.createFile(atPath: download, contents: Data("partial".utf8))
            let prune = Task { pruned.set(try await store.prune()) }
            try await Task.sleep(for: .milliseconds(300))
            XCTAssertNil(pruned.report, "prune ran while a pull held the store")
            XCTAssertTrue(FileManager.default.fileExists(atPath: download), "a download in progress was removed")
            return prune  // it goes on once the lock is released
        }
        try await prune.value
        XCTAssertNotNil(pruned.report, "prune did not run after the pull ended")
        XCTAssertFalse(FileManager.default.fileExists(atPath: download), "the leftover download stays")
    }
}

/// What a concurrent prune reported, once it did.
final class PruneProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var value: ImageStore.PruneReport?
    func set(_ r: ImageStore.PruneReport) { lock.withLock { value = r } }
    var report: ImageStore.PruneReport? { lock.withLock { value } }
}

/// Counts events across concurrent pulls.
final class StartCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String: Int] = [:]
    func add(_ key: String) { lock.withLock { storage[key, default: 0] += 1 } }
    var counts: [String: Int] { lock.withLock { storage } }
}
