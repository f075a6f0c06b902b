// RegistrySourceTests.swift — RegistrySource against a real docker-registry (RegistryFixture):
// plain HTTP, TLS with a test CA, token auth and htpasswd auth with blobs redirected to storage.
// Images are OCI layouts from Fixtures/make-image.py pushed with skopeo.
import Foundation
import XCTest

@testable import AegisImage

final class RegistrySourceTests: XCTestCase {
    private var fixture: RegistryFixture?

    override func tearDown() async throws {
        guard let fixture else { return }
        let pids = fixture.processIdentifiers
        fixture.stop()
        self.fixture = nil
        for pid in pids { XCTAssertEqual(kill(pid, 0), -1, "process \(pid) outlived the fixture") }
    }

    // MARK: plain HTTP

    func testPullRootByTagAndByDigest() async throws {
        let registry = try start(.plain)
        let layout = "\(registry.directory)/layout"
        let madeDigest = try registry.makeImage(layout: layout, tag: "v1")
        try registry.push(layout: layout, tag: "v1", to: "aegis/test:v1")
        let served = try registry.inspectRaw("aegis/test:v1")

        let byTag = try await source(registry, "aegis/test:v1").fetchRoot()
        XCTAssertEqual(byTag.mediaType, MediaType.ociManifest)
        XCTAssertEqual(byTag.bytes, served)
        XCTAssertEqual(byTag.digest, Digest.of(served))
        XCTAssertEqual(byTag.digest.description, madeDigest)

        for reference in ["aegis/test@\(madeDigest)", "aegis/test:v1@\(madeDigest)"] {
            let byDigest = try await source(registry, reference).fetchRoot()
            XCTAssertEqual(byDigest.bytes, served, reference)
            XCTAssertEqual(byDigest.digest, byTag.digest, reference)
            XCTAssertEqual(byDigest.mediaType, MediaType.ociManifest, reference)
        }
        XCTAssertEqual(try source(registry, "aegis/test:v1").name, "registry \(registry.host)")
    }

    func testDockerSchema2MediaTypes() async throws {
        let registry = try start(.plain)
        let layout = "\(registry.directory)/layout"
        try registry.makeImage(layout: layout, tag: "v1")
        try registry.push(layout: layout, tag: "v1", to: "aegis/docker:v1", ["--format", "v2s2"])
        let root = try await source(registry, "aegis/docker:v1").fetchRoot()
        XCTAssertEqual(root.mediaType, MediaType.dockerManifest)
        XCTAssertEqual(root.digest, Digest.of(try registry.inspectRaw("aegis/docker:v1")))
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: Data(root.bytes))
        XCTAssertEqual(manifest.config.mediaType, MediaType.dockerConfig)
        XCTAssertEqual(manifest.layers.map(\.mediaType), [MediaType.dockerLayerGzip])
    }

    func testIndexWithTwoPlatforms() async throws {
        let registry = try start(.plain)
        let layout = "\(registry.directory)/layout"
        try registry.makeImage(layout: layout, tag: "multi", ["--platforms", "linux/amd64,linux/arm64"])
        try registry.push(layout: layout, tag: "multi", to: "aegis/multi:v1", ["--all"])
        let imageSource = try source(registry, "aegis/multi:v1")
        let root = try await imageSource.fetchRoot()
        XCTAssertEqual(root.mediaType, MediaType.ociIndex)
        let index = try JSONDecoder().decode(ImageIndex.self, from: Data(root.bytes))
        XCTAssertEqual(index.manifests.compactMap(\.platform?.architecture), ["amd64", "arm64"])
        for descriptor in index.manifests {
            let fetched = try await imageSource.fetchManifest(descriptor)
            XCTAssertEqual(fetched.mediaType, MediaType.ociManifest)
            XCTAssertEqual(fetched.digest, descriptor.digest)
            XCTAssertEqual(Int64(fetched.bytes.count), descriptor.size)
            XCTAssertEqual(try JSONDecoder().decode(ImageManifest.self, from: Data(fetched.bytes)).layers.count, 1)
        }
    }

    func testBlobsStreamIntoTheStore() async throws {
        let registry = try start(.plain)
        let (imageSource, manifest, layout) = try await pushRandomImage(registry)
        let store = try BlobStore(root: "\(registry.directory)/store")
        for descriptor in [manifest.config] + manifest.layers {
            let writer = try store.writer(for: descriptor)
            try await imageSource.fetchBlob(descriptor, into: writer)
            try writer.commit()
            XCTAssertEqual(contents(store.path(of: descriptor.digest)), contents("\(layout)/blobs/sha256/\(descriptor.digest.hex)"))
        }
        XCTAssertGreaterThan(manifest.layers.map(\.size).max() ?? 0, 3 << 20)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(store.root)/ingest"), [])
    }

    func testUnknownTagRepositoryAndBlobAreNotFound() async throws {
        let registry = try start(.plain)
        let layout = "\(registry.directory)/layout"
        try registry.makeImage(layout: layout, tag: "v1")
        try registry.push(layout: layout, tag: "v1", to: "aegis/test:v1")

        let tag = await imageError { _ = try await self.source(registry, "aegis/test:missing").fetchRoot() }
        XCTAssertEqual(tag?.kind, .notFound)
        XCTAssertTrue(
            tag?.message.contains("\(registry.host)/aegis/test:missing: fetch manifest missing") ?? false, "\(String(describing: tag))")
        XCTAssertTrue(
            tag?.message.contains("404") ?? false && tag?.message.contains("MANIFEST_UNKNOWN") ?? false, "\(String(describing: tag))")

        let repository = await imageError { _ = try await self.source(registry, "aegis/nothing:v1").fetchRoot() }
        XCTAssertEqual(repository?.kind, .notFound)
        XCTAssertTrue(repository?.message.contains("404") ?? false, "\(String(describing: repository))")

        let store = try BlobStore(root: "\(registry.directory)/store")
        let missing = Descriptor(mediaType: MediaType.ociLayerGzip, digest: Digest.of(Array("absent".utf8)), size: 6)
        let writer = try store.writer(for: missing)
        let blob = await imageError { try await self.source(registry, "aegis/test:v1").fetchBlob(missing, into: writer) }
        XCTAssertEqual(blob?.kind, .notFound)
        XCTAssertTrue(blob?.message.contains("fetch blob \(missing.digest)") ?? false && blob?.message.contains("BLOB_UNKNOWN") ?? false)
        assertStoreEmpty(store)
    }

    func testDescriptorSizeDisagreeingWithTheRegistryLeavesNothing() async throws {
        let registry = try start(.plain)
        let (imageSource, manifest, _) = try await pushRandomImage(registry)
        let store = try BlobStore(root: "\(registry.directory)/store")
        let layer = try XCTUnwrap(manifest.layers.max { $0.size < $1.size })
        for size in [layer.size - 1, layer.size + 1] {
            var wrong = layer
            wrong.size = size
            let writer = try store.writer(for: wrong)
            let error = await imageError {
                try await imageSource.fetchBlob(wrong, into: writer)
                try writer.commit()
            }
            XCTAssertEqual(error?.kind, .digestMismatch, "size \(size)")
            assertStoreEmpty(store)
        }
        let tooBig = Descriptor(mediaType: MediaType.ociManifest, digest: layer.digest, size: Int64(maxManifestBytes) + 1)
        let error = await imageError { _ = try await imageSource.fetchManifest(tooBig) }
        XCTAssertEqual(error?.kind, .limitExceeded)
    }

    // MARK: TLS

    func testTLSTrustsTheCAFileAndFailsWithoutIt() async throws {
        let registry = try start(.tls)
        let layout = "\(registry.directory)/layout"
        let digest = try registry.makeImage(layout: layout, tag: "v1")
        try registry.push(layout: layout, tag: "v1", to: "aegis/tls:v1")
        let reference = try ImageReference(parsing: "\(registry.host)/aegis/tls:v1")

        let trusted = try RegistrySource(reference: reference, options: RegistryOptions(caFile: registry.caFile))
        let root = try await trusted.fetchRoot()
        XCTAssertEqual(root.digest.description, digest)
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: Data(root.bytes))
        let store = try BlobStore(root: "\(registry.directory)/store")
        let writer = try store.writer(for: manifest.config)
        try await trusted.fetchBlob(manifest.config, into: writer)
        try writer.commit()

        // Long enough for a cold TLS handshake to fail at least once (else the error is the deadline, not the certificate).
        let untrusted = try RegistrySource(reference: reference, options: RegistryOptions(requestTimeout: .seconds(5)))
        let error = await imageError { _ = try await untrusted.fetchRoot() }
        XCTAssertEqual(error?.kind, .transport)
        XCTAssertTrue(String(describing: error?.underlying).contains("CERTIFICATE_VERIFY_FAILED"), "\(String(describing: error))")
        XCTAssertTrue(
            error?.message.contains("https://\(registry.host)/v2/aegis/tls/manifests/v1") ?? false, "\(String(describing: error))")

        let notPEM = await imageError {
            _ = try RegistrySource(reference: reference, options: RegistryOptions(caFile: "\(layout)/index.json"))
        }
        XCTAssertEqual(notPEM?.kind, .io)
    }

    // MARK: token auth

    func testBearerTokenWithCredentialsIsFetchedOnceAndReused() async throws {
        let registry = try start(.token)
        let layout = "\(registry.directory)/layout"
        try registry.makeImage(layout: layout, tag: "v1")
        try registry.push(layout: layout, tag: "v1", to: "aegis/private:v1")
        let tokensBefore = registry.log("token.log").components(separatedBy: "token: issued for alice").count

        let imageSource = try source(registry, "aegis/private:v1", authFile: registry.writeAuthFile())
        let root = try await imageSource.fetchRoot()
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: Data(root.bytes))
        let store = try BlobStore(root: "\(registry.directory)/store")
        for descriptor in [manifest.config] + manifest.layers {
            let writer = try store.writer(for: descriptor)
            try await imageSource.fetchBlob(descriptor, into: writer)
            try writer.commit()
        }
        let tokensAfter = registry.log("token.log").components(separatedBy: "token: issued for alice").count
        XCTAssertEqual(
            tokensAfter - tokensBefore, 1, "one token for the source's manifest and blob requests:\n\(registry.log("token.log"))")
    }

    func testBearerWrongPasswordAndAnonymousAreUnauthorized() async throws {
        let registry = try start(.token)
        let layout = "\(registry.directory)/layout"
        try registry.makeImage(layout: layout, tag: "v1")
        try registry.push(layout: layout, tag: "v1", to: "aegis/private:v1")
        let realm = "http://\(registry.helperHost ?? "")/token"

        let wrongAuth = try registry.writeAuthFile(password: "not-the-password")
        let wrong = await imageError { _ = try await self.source(registry, "aegis/private:v1", authFile: wrongAuth).fetchRoot() }
        XCTAssertEqual(wrong?.kind, .unauthorized)
        XCTAssertTrue(
            wrong?.message.contains("token from \(realm)") ?? false && wrong?.message.contains("401") ?? false,
            "\(String(describing: wrong))")
        XCTAssertFalse(wrong?.description.contains("not-the-password") ?? true)

        let anonymous = await imageError { _ = try await self.source(registry, "aegis/private:v1").fetchRoot() }
        XCTAssertEqual(anonymous?.kind, .unauthorized)
        let message = anonymous?.message ?? ""
        XCTAssertTrue(message.contains("registry \(registry.host)") && message.contains("Bearer realm=\"\(realm)\""), message)
        XCTAssertTrue(message.contains("no credentials for \(registry.host)"), message)

        // Credentials go to a plain-HTTP realm only when it is an insecure registry too.
        let options = RegistryOptions(insecureRegistries: [registry.host], authFile: try registry.writeAuthFile())
        let reference = try ImageReference(parsing: "\(registry.host)/aegis/private:v1")
        let unlisted = await imageError { _ = try await RegistrySource(reference: reference, options: options).fetchRoot() }
        XCTAssertEqual(unlisted?.kind, .unauthorized)
        XCTAssertTrue(unlisted?.message.contains("plain HTTP") ?? false, "\(String(describing: unlisted))")
    }

    // MARK: Basic auth, blobs redirected to storage

    func testBasicAuthWithBlobsRedirectedToStorage() async throws {
        let registry = try start(.basicWithRedirect)
        let (imageSource, manifest, layout) = try await pushRandomImage(registry, authFile: try registry.writeAuthFile(fieldsStyle: true))
        let store = try BlobStore(root: "\(registry.directory)/store")
        let layer = try XCTUnwrap(manifest.layers.max { $0.size < $1.size })
        let writer = try store.writer(for: layer)
        try await imageSource.fetchBlob(layer, into: writer)  // the storage server answers 400 to an Authorization header
        try writer.commit()
        XCTAssertEqual(contents(store.path(of: layer.digest)), contents("\(layout)/blobs/sha256/\(layer.digest.hex)"))
        XCTAssertTrue(registry.log("storage.log").contains("\"GET /docker/registry/v2/blobs/sha256/"), registry.log("storage.log"))
        store.remove(layer.digest)

        // The storage server declares no length: the writer itself refuses the extra bytes,
        // and commit finds a short download.
        for (size, expected) in [(Int64(1000), "more than the 1000 bytes"), (layer.size + 1, "truncated")] {
            var wrong = layer
            wrong.size = size
            let writer = try store.writer(for: wrong)
            let error = await imageError {
                try await imageSource.fetchBlob(wrong, into: writer)
                try writer.commit()
            }
            XCTAssertEqual(error?.kind, .digestMismatch)
            XCTAssertTrue(error?.message.contains(expected) ?? false, "\(String(describing: error))")
            assertStoreEmpty(store)
        }
    }

    func testBasicAuthWrongPasswordAndAnonymousAreUnauthorized() async throws {
        let registry = try start(.basicWithRedirect)
        let anonymous = await imageError { _ = try await self.source(registry, "aegis/test:v1").fetchRoot() }
        XCTAssertEqual(anonymous?.kind, .unauthorized)
        XCTAssertTrue(anonymous?.message.contains("asks for Basic realm=\"aegis-test\"") ?? false, "\(String(describing: anonymous))")

        let wrongAuth = try registry.writeAuthFile(password: "not-the-password")
        let wrong = await imageError { _ = try await self.source(registry, "aegis/test:v1", authFile: wrongAuth).fetchRoot() }
        XCTAssertEqual(wrong?.kind, .unauthorized)
        XCTAssertTrue(
            wrong?.message.contains("answered 401") ?? false && wrong?.message.contains("sent as alice") ?? false,
            "\(String(describing: wrong))")
        XCTAssertFalse(wrong?.description.contains("not-the-password") ?? true)
    }

    // MARK: parsing (no registry)

    func testWWWAuthenticateParsing() {
        let bearer = AuthChallenge.parse([
            #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
        ])
        XCTAssertEqual(bearer.map(\.scheme), ["bearer"])
        XCTAssertEqual(bearer.first?.parameters["scope"], "repository:a/b:pull,push")
        XCTAssertEqual(bearer.first?.parameters["service"], "registry.example")

        let several = AuthChallenge.parse([
            #"Basic realm="a \"quoted\", realm", Bearer Realm=https://r.example/t , error="insufficient_scope""#
        ])
        XCTAssertEqual(several.map(\.scheme), ["basic", "bearer"])
        XCTAssertEqual(several.first?.parameters["realm"], #"a "quoted", realm"#)
        XCTAssertEqual(several.last?.parameters, ["realm": "https://r.example/t", "error": "insufficient_scope"])

        XCTAssertEqual(AuthChallenge.parse([", , =junk, Negotiate", "Basic"]).map(\.scheme), ["negotiate", "basic"])
        XCTAssertEqual(AuthChallenge.parse([]), [])
    }

    func testAuthFileForms() throws {
        let directory = NSTemporaryDirectory() + "aegis-authfile-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = "\(directory)/auth.json"
        let auths: [String: Any] = [
            "auths": [
                "https://index.docker.io/v1/": ["auth": Data("hub:pass:with:colons".utf8).base64EncodedString()],
                "reg.example:5000": ["username": "u", "password": "p"],
            ]
        ]
        try JSONSerialization.data(withJSONObject: auths).write(to: URL(fileURLWithPath: file))
        let hub = try RegistryCredentials.load(authFile: file, host: "registry-1.docker.io")
        XCTAssertEqual(hub?.username, "hub")
        XCTAssertEqual(hub?.password, "pass:with:colons")
        XCTAssertEqual(try RegistryCredentials.load(authFile: file, host: "reg.example:5000")?.password, "p")
        XCTAssertNil(try RegistryCredentials.load(authFile: file, host: "reg.example"))

        try Data("not json".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try RegistryCredentials.load(authFile: file, host: "reg.example")) {
            XCTAssertEqual(($0 as? ImageError)?.kind, .io)
        }
    }

    // MARK: helpers

    private func start(_ flavour: RegistryFixture.Flavour) throws -> RegistryFixture {
        let registry = try RegistryFixture.start(flavour)
        fixture = registry
        return registry
    }

    /// A source for `path` ("repo:tag") in the fixture's registry, over plain HTTP unless TLS.
    private func source(_ registry: RegistryFixture, _ path: String, authFile: String? = nil) throws -> RegistrySource {
        var insecure: Set<String> = registry.flavour == .tls ? [] : [registry.host]
        if registry.flavour == .token, let tokenHost = registry.helperHost { insecure.insert(tokenHost) }
        let options = RegistryOptions(
            insecureRegistries: insecure, caFile: registry.flavour == .tls ? registry.caFile : nil, authFile: authFile)
        return try RegistrySource(reference: try ImageReference(parsing: "\(registry.host)/\(path)"), options: options)
    }

    /// Pushes an image with a small layer and one of over 3 MiB of random bytes as aegis/big:v1; returns its source, manifest and the layout holding its blobs.
    private func pushRandomImage(
        _ registry: RegistryFixture, authFile: String? = nil
    ) async throws -> (RegistrySource, ImageManifest, String) {
        let layout = "\(registry.directory)/layout"
        let tar = try registry.makeRandomTar(size: 3 << 20)
        try registry.makeImage(layout: layout, tag: "big", ["--layer-tar", tar])
        try registry.push(layout: layout, tag: "big", to: "aegis/big:v1")
        let imageSource = try source(registry, "aegis/big:v1", authFile: authFile)
        let root = try await imageSource.fetchRoot()
        return (imageSource, try JSONDecoder().decode(ImageManifest.self, from: Data(root.bytes)), layout)
    }

    private func assertStoreEmpty(_ store: BlobStore, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(store.root)/ingest"), [], file: file, line: line)
        XCTAssertEqual(store.list(), [], file: file, line: line)
    }

    private func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
}
