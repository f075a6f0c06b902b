// ManifestImage.swift — `image: REF`, `imagePullPolicy: IfNotPresent|Always|Never`,
// `rootfs: read-only|overlay`, and `workingDir:` / `user:` overriding the image config's
// (AegisProtocol/ImageSpec.swift). The reference is checked here only
// for its shape (one line of printable text); the worker parses it fully when it pulls, and a
// reference it can't parse ends the workload with that error.
import AegisProtocol

extension ManifestParser {
    /// The longest image reference, bytes (an `oci:` path included).
    static let maxImageReferenceBytes = 4096

    /// Reads the image fields of a manifest's top-level mapping; nil when `image` is absent (then
    /// `imagePullPolicy` and `rootfs` are errors). `useEntrypoint` is decided by the caller.
    static func readImage(_ f: Fields) throws -> ImageSpec? {
        guard let field = f["image"] else {
            for key in ["imagePullPolicy", "rootfs", "workingDir", "user"] {
                if let x = f[key] { throw x.error("needs image: (\(key) applies to a workload run from an image)") }
            }
            return nil
        }
        let reference = try field.scalar(
            "an image reference (e.g. python:3.12-slim, registry.example:5000/agents/py@sha256:…, oci:/srv/images/py:1)")
        try field.locate { try checkImageReference(reference, path: field.path) }
        let policy = try f["imagePullPolicy"].map { p in
            try p.at { try choice(try p.scalar("a pull policy"), ImagePullPolicy.self, "a pull policy", path: p.path) }
        }
        let mode = try f["rootfs"].map { r in
            try r.at { try choice(try r.scalar("a rootfs mode"), ImageRootfsMode.self, "a rootfs mode", path: r.path) }
        }
        var spec = ImageSpec(reference: reference, pullPolicy: policy, rootfs: mode ?? .readOnly)
        if let w = f["workingDir"] {
            let dir = try w.scalar("an absolute directory in the image")
            guard dir.hasPrefix("/"), !dir.utf8.contains(0), dir.utf8.count <= 4096 else {
                throw w.error("\(Quantity.quoted(dir)) is not an absolute path (the working directory inside the image)")
            }
            spec.workingDir = dir
        }
        if let u = f["user"] {
            let user = try u.scalar("a user of the image (NAME, UID, NAME:GROUP or UID:GID)")
            let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard !user.isEmpty,
                parts.allSatisfy({
                    !$0.isEmpty && $0.utf8.count <= 64 && $0.allSatisfy { $0.isLetter || $0.isNumber || "_-.".contains($0) }
                })
            else { throw u.error("\(Quantity.quoted(user)) is not NAME, UID, NAME:GROUP or UID:GID") }
            spec.user = user
        }
        return spec
    }

    /// The case of `T` named `text`, or an error at `path` listing them (`what`: "a pull policy").
    static func choice<T: RawRepresentable & CaseIterable>(_ text: String, _: T.Type, _ what: String, path: String) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            throw ManifestError(
                path: path, message: "\(Quantity.quoted(text)) is not \(what) (\(T.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return value
    }

    /// The shape of an image reference: non-empty, at most `maxImageReferenceBytes`, no spaces or
    /// control characters, not an option.
    static func checkImageReference(_ reference: String, path: String) throws {
        guard !reference.isEmpty else { throw ManifestError(path: path, message: "image reference is empty") }
        guard reference.utf8.count <= maxImageReferenceBytes else {
            throw ManifestError(path: path, message: "image reference is \(reference.utf8.count) bytes, over \(maxImageReferenceBytes)")
        }
        guard !reference.hasPrefix("-"), !reference.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) else {
            throw ManifestError(
                path: path, message: "\(Quantity.quoted(reference)) is not an image reference (spaces, control characters or a leading '-')"
            )
        }
    }
}
