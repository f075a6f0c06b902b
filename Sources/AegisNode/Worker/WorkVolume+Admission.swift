// WorkVolume+Admission.swift — no overcommit of the node's disk: an image is sparse, so nothing
// would stop ten 1 GiB volumes on a disk with 2 GiB free, and an agent writing into a volume the
// host can't back sees its writes succeed and later vanish (EIO). A volume is admitted only when
// the data dir's free space covers its size plus what every existing volume may still grow by
// (its size minus what it already holds), with `reserveBytes` left for logs and the store.
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import Synchronization

extension WorkVolume {
    /// Kept free on the data dir's file system beyond all volumes: 256 MiB.
    static let reserveBytes: Int64 = 256 << 20

    /// One admission at a time (the check and the note that counts the new volume).
    static let admission = Mutex<Void>(())

    /// Writes the note of a volume of `sizeBytes` if the node's disk can back it, under `admission`.
    /// - Throws: `SandboxError(.step)` saying how much is free and how much is promised.
    func admit(in workloadDir: String, workloads: String) throws {
        try Self.admission.withLock { _ in
            var fs = statvfs()
            guard statvfs(workloads, &fs) == 0 else { throw SandboxError.system("statvfs", workloads) }
            let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
            let promised = Self.promisedBytes(workloads: workloads)
            guard free - promised - Self.reserveBytes >= sizeBytes else {
                throw SandboxError(
                    .step,
                    "work volume of \(Self.mebibytes(sizeBytes)) (resources.disk) not admitted: \(Self.mebibytes(free)) free on "
                        + "\(workloads), \(Self.mebibytes(promised)) promised to other volumes, \(Self.mebibytes(Self.reserveBytes)) kept")
            }
            try saveNote(in: workloadDir)
        }
    }

    /// What the volumes noted under `workloads` may still grow by: each one's size minus the
    /// bytes its image already holds.
    static func promisedBytes(workloads: String) -> Int64 {
        var total: Int64 = 0
        guard let d = opendir(workloads) else { return 0 }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard e.pointee.d_type == UInt8(DT_DIR), !name.hasPrefix(".") else { continue }
            let dir = workloads + "/" + name
            guard let inner = opendir(dir) else { continue }
            while let f = readdir(inner) {
                let entry = withUnsafeBytes(of: f.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                guard entry.hasPrefix("work.g"), entry.hasSuffix(".json"), let generation = Int64(entry.dropFirst(6).dropLast(5)),
                    let volume = load(from: dir, generation: generation)
                else { continue }
                var st = stat()
                let held = lstat(imagePath(dir, generation), &st) == 0 ? Int64(st.st_blocks) * 512 : 0
                total += max(0, volume.sizeBytes - held)
            }
            closedir(inner)
        }
        return total
    }

    static func mebibytes(_ bytes: Int64) -> String { "\(bytes >> 20) MiB" }
}
