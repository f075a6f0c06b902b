// RegistryPullTests.swift — whole pulls from a real registry (Debian's docker-registry) into the
// image store: the unpacked tree equals umoci's, a pull by digest reuses the rootfs, a token
// registry pulls with an auth file, and the `aegis image` verbs work end to end.
import AegisImage
import Foundation
import XCTest

final class RegistryPullTests: ImageStoreTestCase {
    private func start(_ flavour: RegistryFixture.Flavour) throws -> RegistryFixture {
        let registry = try RegistryFixture.start(flavour)
        addTeardownBlock { registry.stop() }
        return registry
    }

    func testPullByTagAndDigestMatchesUmoci() async throws {
        let registry = try start(.plain)
        let layout = "\(dir)/layout"
        // gzip and zstd layers as OCI manifests; the gzip image again as Docker schema 2 (skopeo converts).
        for (tag, extra) in [("gz", [String]()), ("zst", ["--compression", "zstd"])] {
            try ImageFixtures.makeImage(
                at: layout, tag: tag, layers: [LayoutPullTests.baseLayer, LayoutPullTests.upperLayer], extra: extra)
            try registry.push(layout: layout, tag: tag, to: "team/agent:\(tag)")
        }
        try registry.push(layout: layout, tag: "gz", to: "team/agent:v2s2", ["--format", "v2s2"])
        let options = RegistryOptions(insecureRegistries: [registry.host])
        let byTag = try await store.pull("\(registry.host)/team/agent:gz", options: options)
        let byDigest = try await store.pull("\(registry.host)/team/agent@\(byTag.manifestDigest)", options: options)
        XCTAssertEqual(byDigest.rootfsKey, byTag.rootfsKey, "the same verified layers: one rootfs")
        XCTAssertEqual(byDigest.manifestDigest, byTag.manifestDigest)
        try ImageFixtures.run(["umoci", "unpack", "--image", "\(layout):gz", "\(dir)/bundle"])
        let skipped: Set<String> = ["dev/null", "fifo"]
        let theirs = try ImageFixtures.describeTree("\(dir)/bundle/rootfs").filter {
            !skipped.contains(String($0.split(separator: " ")[0]))
        }
        XCTAssertEqual(try ImageFixtures.describeTree(store.rootfsPath(byTag)), theirs)
        for tag in ["zst", "v2s2"] {
            let r = try await store.pull("\(registry.host)/team/agent:\(tag)", options: options)
            XCTAssertEqual(try ImageFixtures.describeTree(store.rootfsPath(r)), theirs, tag)
        }
        XCTAssertEqual(try store.list().count, 4)
        await expectImageError(.notFound, containing: "MANIFEST_UNKNOWN") {
            try await self.store.pull("\(registry.host)/team/agent:missing", options: options)
        }
    }

    func testTokenRegistryWithAuthFile() async throws {
        let registry = try start(.token)
        let layout = "\(dir)/layout"
        try ImageFixtures.makeImage(at: layout, tag: "t", layers: [LayoutPullTests.baseLayer])
        try registry.push(layout: layout, tag: "t", to: "private/agent:t")
        let ref = "\(registry.host)/private/agent:t"
        await expectImageError(.unauthorized, containing: registry.host) {
            try await self.store.pull(ref, options: RegistryOptions(insecureRegistries: [registry.host]))
        }
        XCTAssertEqual(try store.list().count, 0)
        let auth = try registry.writeAuthFile()
        var options = RegistryOptions(insecureRegistries: [registry.host], authFile: auth)
        options.insecureRegistries.formUnion(registry.helperHost.map { [$0] } ?? [])
        let record = try await store.pull(ref, options: options)
        XCTAssertEqual(try String(contentsOfFile: "\(store.rootfsPath(record))/etc/hello", encoding: .utf8), "hello\n")
    }

    /// The `aegis image` verbs as an operator runs them.
    func testImageVerbsEndToEnd() async throws {
        let aegis = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/aegis").path
        guard FileManager.default.isExecutableFile(atPath: aegis) else { throw XCTSkip("\(aegis) is not built") }
        let registry = try start(.plain)
        let layout = "\(dir)/layout"
        let digest = try ImageFixtures.makeImage(at: layout, tag: "v1", layers: [LayoutPullTests.baseLayer])
        try registry.push(layout: layout, tag: "v1", to: "cli/agent:v1")
        let data = "\(dir)/node"
        let ref = "\(registry.host)/cli/agent:v1"
        let pulled = try ImageFixtures.run([aegis, "image", "pull", "--data-dir", data, "--insecure-registry", registry.host, "-q", ref])
        XCTAssertEqual(pulled, "\(digest)\n")
        let listed = try ImageFixtures.run([aegis, "image", "ls", "--data-dir", data, "-o", "json"])
        XCTAssertTrue(listed.contains("\"reference\" : \"\(ref)\"") || listed.contains("\"reference\":\"\(ref)\""), listed)
        // Without --insecure-registry the registry is spoken to over HTTPS, which it does not serve.
        XCTAssertThrowsError(try ImageFixtures.run([aegis, "image", "pull", "--data-dir", data, "\(registry.host)/cli/agent:v1"])) {
            XCTAssertTrue("\($0)".contains("aegis: "), "\($0)")
        }
        XCTAssertEqual(try ImageFixtures.run([aegis, "image", "rm", "--data-dir", data, ref]), "removed \(ref)\n")
        let pruned = try ImageFixtures.run([aegis, "image", "prune", "--data-dir", data])
        XCTAssertTrue(pruned.hasPrefix("removed 2 blob(s)"), pruned)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(data)/images/rootfs"), [])
    }
}
