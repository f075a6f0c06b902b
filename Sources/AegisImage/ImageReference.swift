// ImageReference.swift — what `aegis image pull`, `image:` in manifests and `aegis run --image`
// accept: a registry reference in the distribution grammar (`[host[:port]/]path[:tag][@digest]`,
// Docker Hub's defaults, an optional `docker://` prefix) or a local source in skopeo's syntax
// (`oci:DIR[:TAG]`, an OCI image layout; `oci-archive:FILE[:TAG]`, the same as a tar file).

/// A parsed image reference.
public enum ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// An image in a registry: `host` as dialled ("registry-1.docker.io" for Docker Hub),
    /// `repository` ("library/python"), and a tag, a digest or both (the digest decides).
    case registry(host: String, repository: String, tag: String?, digest: Digest?)
    /// An OCI image layout directory and the `org.opencontainers.image.ref.name` to pick
    /// (nil: the layout's only manifest).
    case layout(path: String, tag: String?)
    /// A tar archive of an OCI image layout.
    case archive(path: String, tag: String?)

    /// Parses `text`; throws `.invalidReference` naming the part that is wrong.
    public init(parsing text: String) throws(ImageError) {
        if text.hasPrefix("oci:") || text.hasPrefix("oci-archive:") {
            let isArchive = text.hasPrefix("oci-archive:")
            let rest = String(text.dropFirst(isArchive ? 12 : 4))
            var path = rest
            var tag: String?
            // skopeo: the last ":" introduces the tag unless it is part of the path ("/").
            if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
                path = String(rest[..<colon])
                tag = String(rest[rest.index(after: colon)...])
                if tag!.isEmpty { tag = nil }
            }
            guard !path.isEmpty else {
                throw ImageError(.invalidReference, "image \"\(text)\": no path after \(isArchive ? "oci-archive:" : "oci:")")
            }
            if let tag, !Self.isValidTag(tag) {
                throw ImageError(.invalidReference, "image \"\(text)\": tag \"\(tag)\" is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
            }
            self = isArchive ? .archive(path: path, tag: tag) : .layout(path: path, tag: tag)
            return
        }
        var rest = Substring(text.hasPrefix("docker://") ? String(text.dropFirst(9)) : text)
        guard !rest.isEmpty else { throw ImageError(.invalidReference, "image reference is empty") }
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
            guard Self.isValidTag(tag!) else {
                throw ImageError(.invalidReference, "image \"\(text)\": tag \"\(tag!)\" is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
            }
        }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var host = "docker.io"
        if parts.count > 1, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            host = parts.removeFirst()
        }
        guard !parts.isEmpty, parts.allSatisfy(Self.isValidPathComponent) else {
            throw ImageError(
                .invalidReference,
                "image \"\(text)\": repository \"\(parts.joined(separator: "/"))\" must be lowercase path components of [a-z0-9] joined by . _ __ or -"
            )
        }
        if host == "docker.io" {
            host = "registry-1.docker.io"
            if parts.count == 1 { parts.insert("library", at: 0) }
        }
        if tag == nil && digest == nil { tag = "latest" }
        self = .registry(host: host, repository: parts.joined(separator: "/"), tag: tag, digest: digest)
    }

    public var description: String {
        switch self {
        case let .registry(host, repository, tag, digest):
            var s = "\(host)/\(repository)"
            if let tag { s += ":\(tag)" }
            if let digest { s += "@\(digest)" }
            return s
        case let .layout(path, tag): return "oci:\(path)" + (tag.map { ":\($0)" } ?? "")
        case let .archive(path, tag): return "oci-archive:\(path)" + (tag.map { ":\($0)" } ?? "")
        }
    }

    /// Every spelling of this reference that parses to it: the normalized form, and for Docker
    /// Hub the `docker.io/`, host-less and (for `library/`) short forms, each also without
    /// `:latest` when that tag was implied. What a node advertises, so a manifest's `image:` as
    /// the user wrote it finds the nodes holding the image.
    public var names: [String] {
        guard case let .registry(host, repository, tag, digest) = self else { return [description] }
        var repositories = ["\(host)/\(repository)"]
        if host == "registry-1.docker.io" {
            repositories += ["docker.io/\(repository)", repository]
            if repository.hasPrefix("library/") {
                let short = String(repository.dropFirst(8))
                repositories += ["docker.io/\(short)", short]
            }
        }
        var out: [String] = []
        for r in repositories {
            let suffix = digest.map { "@\($0)" } ?? ""
            if let tag { out.append("\(r):\(tag)\(suffix)") }
            if tag == "latest" || tag == nil { out.append(r + suffix) }
        }
        return out
    }

    static func isValidTag(_ tag: String) -> Bool {
        let u = Array(tag.utf8)
        guard !u.isEmpty, u.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        return word(u[0]) && u.dropFirst().allSatisfy { word($0) || $0 == 46 || $0 == 45 }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (distribution/reference).
    static func isValidPathComponent(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let first = u.first, let last = u.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < u.count {
            if alnum(u[i]) { i += 1; continue }
            // A separator: ".", "_", "__" or a run of "-", followed by an alphanumeric.
            var j = i
            if u[i] == 46 {
                j += 1
            } else if u[i] == 95 {
                j += (i + 1 < u.count && u[i + 1] == 95) ? 2 : 1
            } else if u[i] == 45 {
                while j < u.count && u[j] == 45 { j += 1 }
            } else {
                return false
            }
            guard j < u.count, alnum(u[j]) else { return false }
            i = j
        }
        return true
    }

    private static func alnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 122) }
}
