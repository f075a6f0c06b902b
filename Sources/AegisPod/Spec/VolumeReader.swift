// VolumeReader.swift — `spec.volumes`: `emptyDir` and `hostPath` sources, one per volume.

import AegisManifest
import AegisProtocol

extension PodManifestParser {
    /// Kubernetes' HostPathType values aegis pod run checks ("" checks nothing).
    static let hostPathTypes = ["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket"]

    /// `volumes[]`: `name` a DNS-1123 label unique in the pod, and exactly one source.
    static func readVolumes(_ field: Field) throws -> [VolumeSpec] {
        var seen: [String: String] = [:]
        var volumes: [VolumeSpec] = []
        for item in try field.items("a list of volumes") {
            let f = try item.object(.volume)
            let nameField = try f.required("name", hint: " (a DNS-1123 label)")
            let name = try nameField.string("a volume name")
            try PodSyntax.checkLabel(name, at: nameField, what: "volume name")
            if let first = seen[name] { throw nameField.error("volume name \(Quantity.quoted(name)) is already used by \(first)") }
            seen[name] = item.path
            let sources = f.entries.filter { PodObject.volumeSources.contains($0.key) && !$0.value.isNull }
            guard let source = sources.first else {
                throw item.error("volume \(Quantity.quoted(name)) has no source: give emptyDir: {} or hostPath: {path: …}")
            }
            if sources.count > 1 {
                throw sources[1].value.error("a volume has exactly one source; this one already has \(source.key)")
            }
            let spec = source.key == "emptyDir" ? try readEmptyDir(source.value) : try readHostPath(source.value)
            volumes.append(VolumeSpec(name: name, source: spec))
        }
        return volumes
    }

    /// `emptyDir`: `medium` "" (on disk, the default); "Memory" (a tmpfs) and `sizeLimit` are
    /// refused until the runner honours them (a tmpfs shared by the pod's containers would be a
    /// mount on the host; a disk limit needs a volume of its own). The HugePages media are not
    /// supported.
    static func readEmptyDir(_ field: Field) throws -> VolumeSpec.Source {
        let f = try field.object(.emptyDir)
        var medium = ""
        if let m = f["medium"] {
            medium = try m.string("a storage medium")
            if medium.hasPrefix("HugePages") {
                throw m.error("\(Quantity.quoted(medium)) is not supported by aegis pod run (\"\", Memory)")
            }
            medium = try m.oneOf(["", "Memory"], "a storage medium")
            if medium == "Memory" { throw m.error("medium Memory is not supported by aegis pod run yet (leave it out: on disk)") }
        }
        var size: Int64?
        if let s = f["sizeLimit"] {
            let text = try s.scalar("a memory quantity")
            size = try s.at { try Quantity.memoryBytes(text, field: s.path) }
            throw s.error("sizeLimit is not supported by aegis pod run yet (the volume would not be limited)")
        }
        return .emptyDir(medium: medium, sizeLimitBytes: size)
    }

    /// `hostPath`: `path` absolute without `..` (cleaned); `type` one of `hostPathTypes`
    /// (default "", no check). CharDevice and BlockDevice are not supported.
    static func readHostPath(_ field: Field) throws -> VolumeSpec.Source {
        let f = try field.object(.hostPath)
        let pathField = try f.required("path", hint: " (an absolute path of the host)")
        let path = try PodSyntax.absolutePath(try pathField.string("an absolute path"), at: pathField, what: "hostPath.path")
        var type = ""
        if let t = f["type"] {
            let text = try t.string("a host path type")
            if text == "CharDevice" || text == "BlockDevice" {
                throw t.error(
                    "\(Quantity.quoted(text)) is not supported by aegis pod run (\(hostPathTypes.dropFirst().joined(separator: ", ")))")
            }
            type = try t.oneOf(hostPathTypes, "a host path type")
        }
        return .hostPath(path: path, type: type)
    }
}
