// InputFiles.swift — which local files `aegis run` uploads with a submission.
//   With a manifest: every regular file under the manifest's directory whose relative path the
//   manifest text mentions (as a whole name, see `mentions`), the manifest itself excluded.
//   With a command: every argument that is a relative path (no "..") to an existing regular file.
// Both are capped in total (`maxUploadBytes`), failing with the largest files named.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// Total upload cap for one submission's input files: 16 MiB.
public let maxUploadBytes = 16 << 20

/// Files to upload: relative path → content.
public typealias InputFiles = [String: [UInt8]]

/// The SubmitRequest form of `files`: relative path → base64 (RFC 4648 section 4, with padding).
public func base64Inputs(_ files: InputFiles) -> [String: String] {
    files.mapValues { Data($0).base64EncodedString() }
}

/// Collects the files a manifest names. Walks `dirname(manifestPath)` (not into directories whose
/// name starts with "."; symlinked directories are not entered) and keeps the entries whose
/// relative path `mentions(text:path:)` finds in the manifest. Each is opened beneath that
/// directory (`BeneathDirectory`): a symlink is followed only while it stays inside it, and only
/// regular files are read; a mentioned symlink leading out, FIFO, device or socket is refused.
/// - Parameters: `limit` is the total in bytes; `maxEntries` bounds the directory walk.
/// - Throws: `ClientError` when the walk exceeds `maxEntries` (name the directory), a mentioned
///   file is refused or can't be read (its name, and errno), or the total exceeds `limit` (with
///   the largest files).
public func collectManifestInputs(
    manifestPath: String, manifestText: String, limit: Int = maxUploadBytes,
    maxEntries: Int = 20_000
) throws -> InputFiles {
    let dir: String
    if let slash = manifestPath.lastIndex(of: "/") {
        dir = slash == manifestPath.startIndex ? "/" : String(manifestPath[..<slash])
    } else {
        dir = "."
    }
    let manifestName = lastPathComponent(manifestPath)
    var candidates: [String] = []
    var visited = 0
    try walk(dir: dir, relative: "", depth: 0, visited: &visited, maxEntries: maxEntries, into: &candidates)
    let text = Array(manifestText.utf8)
    var picked: [String] = []
    for rel in candidates.sorted() where rel != manifestName && mentions(text: text, path: rel) {
        picked.append(rel)
    }
    let root = try BeneathDirectory(dir)
    // A mentioned symlink that resolves (inside) to a directory is not an input: skipped as before.
    let files = try picked.filter { try root.kind($0).type != S_IFDIR }
    return try readCapped(files, in: root, limit: limit)
}

/// Collects the command's arguments that are local files: relative paths (not starting with "/"
/// or "-", no ".." component) to existing regular files under `baseDir`. Names are normalized
/// ("./x/../" never passes; "./a.py" → "a.py", "d//f" → "d/f"). They are read beneath `baseDir`
/// as manifest inputs are (a symlink leading out of it is refused).
/// - Throws: `ClientError` for a refused or unreadable file or a total above `limit`.
public func collectCommandInputs(command: [String], baseDir: String = ".", limit: Int = maxUploadBytes) throws -> InputFiles {
    var picked: [String] = []
    var seen = Set<String>()
    for arg in command {
        guard !arg.isEmpty, !arg.hasPrefix("/"), !arg.hasPrefix("-") else { continue }
        let parts = arg.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !parts.isEmpty, !parts.contains("..") else { continue }
        let rel = parts.joined(separator: "/")
        let path = baseDir == "." ? rel : baseDir + "/" + rel
        guard localFileKind(path) == .regular, seen.insert(rel).inserted else { continue }
        picked.append(rel)
    }
    return try readCapped(picked, in: try BeneathDirectory(baseDir), limit: limit)
}

/// True when `path` occurs in `text` as a whole file name: the byte before it is not a name byte
/// (letters, digits, "_", "-", ".", "/"), except that "./" directly before it is allowed; the byte
/// after it is not a name byte, where "." counts as the end only when no name byte follows it
/// ("agent.py." ends a sentence; "data.csv.gz" is not "data.csv").
public func mentions(text: [UInt8], path: String) -> Bool {
    let needle = Array(path.utf8)
    guard !needle.isEmpty, needle.count <= text.count else { return false }
    func isName(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D || b == 0x2E || b == 0x2F
    }
    var i = 0
    while i + needle.count <= text.count {
        if text[i] == needle[0] && Array(text[i..<(i + needle.count)]) == needle {
            var beforeOK = i == 0 || !isName(text[i - 1])
            if !beforeOK && i >= 2 && text[i - 1] == 0x2F && text[i - 2] == 0x2E {
                beforeOK = i == 2 || !isName(text[i - 3])
            }
            let j = i + needle.count
            var afterOK = j == text.count || !isName(text[j])
            if !afterOK && text[j] == 0x2E { afterOK = j + 1 == text.count || !isName(text[j + 1]) }
            if beforeOK && afterOK { return true }
        }
        i += 1
    }
    return false
}

private func walk(
    dir: String, relative: String, depth: Int, visited: inout Int, maxEntries: Int,
    into out: inout [String]
) throws {
    guard let d = opendir(dir) else {
        if depth == 0 { throw ClientError("cannot list \(dir): \(Errno.current.explained)") }
        return  // an unreadable subdirectory can't hold a file we could upload anyway
    }
    defer { closedir(d) }
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        visited += 1
        if visited > maxEntries {
            throw ClientError(
                "the manifest's directory has more than \(maxEntries) entries; put the manifest and its files in a directory of their own")
        }
        let path = dir + "/" + name
        let rel = relative.isEmpty ? name : relative + "/" + name
        switch localFileKind(path, followSymlinks: false) {
        case .directory:
            if !name.hasPrefix(".") && depth < 16 {
                try walk(dir: path, relative: rel, depth: depth + 1, visited: &visited, maxEntries: maxEntries, into: &out)
            }
        case .missing: break
        // Regular files, symlinks, FIFOs, devices, sockets: judged when opened, if mentioned.
        case .regular, .socket, .other: out.append(rel)
        }
    }
}

private func readCapped(_ files: [String], in root: BeneathDirectory, limit: Int) throws -> InputFiles {
    var sizes: [(String, Int64)] = []
    for rel in files { sizes.append((rel, try root.kind(rel).size)) }
    let total = sizes.reduce(Int64(0)) { $0 + $1.1 }
    if total > Int64(limit) {
        let largest = sizes.sorted { $0.1 > $1.1 }.prefix(3).map { "\($0.0) (\(formatBytes($0.1)))" }.joined(separator: ", ")
        throw ClientError(
            "input files total \(formatBytes(total)), over the \(formatBytes(Int64(limit))) upload limit (largest: \(largest))")
    }
    var out: InputFiles = [:]
    for rel in files { out[rel] = try root.readRegular(rel, limit: limit) }
    return out
}
