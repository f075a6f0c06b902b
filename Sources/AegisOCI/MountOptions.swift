// Translation of an OCI mount's `type` + `options` (config.md § Mounts, mount(8) option words) into
// mount(2) arguments, following what runc and crun do:
// - flag words set or clear MS_* bits, processed left to right (so "ro,rw" ends read-write);
// - "bind"/"rbind" make a bind mount (MS_BIND, plus MS_REC for rbind); the kernel ignores the other
//   flags on the bind call, so a bind with e.g. "ro" needs a second mount(2) call with
//   MS_REMOUNT|MS_BIND|flags (`needsRemount`, `remountFlags`);
// - propagation words go into a separate mount(2) call (`propagation`), since the kernel refuses to
//   combine a propagation change with other flags;
// - every other word ("mode=755", "size=65536k", "newinstance", "gid=5") is filesystem data, passed
//   comma-joined as mount(2)'s `data` argument. A bare word that is not a known flag word is passed
//   as data too, as runc does: a mistyped flag ("nosiud") therefore reaches the filesystem, which
//   usually rejects it with EINVAL at mount time rather than here.

import Glibc

/// mount(2) arguments for one OCI mount.
public struct LinuxMountParameters: Sendable, Equatable {
    /// True for "bind"/"rbind" options or a mount of type "bind".
    public var isBind: Bool
    /// MS_* flags for the first mount(2) call, including MS_BIND (|MS_REC for rbind) for binds.
    public var flags: UInt
    /// MS_* flags explicitly cleared by a word ("rw", "suid", "dev", "exec", "atime", …) and not set
    /// again later. A bind remount inside a user namespace must keep any locked flag of the source
    /// that is not in this set (runc's behaviour).
    public var clearFlags: UInt
    /// MS_PRIVATE, MS_SLAVE, MS_SHARED or MS_UNBINDABLE, with MS_REC for the "r" variants, applied
    /// by a second mount(2) call after the mount; 0 for none. If several words are given, the last
    /// one wins.
    public var propagation: UInt
    /// Filesystem-specific options, comma-joined in their order ("mode=755,size=65536k"); "" if none.
    public var data: String
    /// A bind mount whose flags (ro, nosuid, nodev, noexec, atime words, …) only take effect through
    /// mount(2) with MS_REMOUNT|MS_BIND (see `remountFlags`).
    public var needsRemount: Bool

    public init(
        isBind: Bool = false, flags: UInt = 0, clearFlags: UInt = 0, propagation: UInt = 0,
        data: String = "", needsRemount: Bool = false
    ) {
        self.isBind = isBind
        self.flags = flags
        self.clearFlags = clearFlags
        self.propagation = propagation
        self.data = data
        self.needsRemount = needsRemount
    }

    /// Flags for the bind remount: MS_REMOUNT|MS_BIND plus `flags` without MS_REC.
    public var remountFlags: UInt {
        (flags & ~Self.msRec) | Self.msRemount | Self.msBind
    }

    /// Translates `type` and `options`.
    /// - Throws: `MountOptionError` for "tmpcopyup", "idmap"/"ridmap", recursive attribute words
    ///   ("rro", "rnosuid", …: they need mount_setattr(2)), an empty word, or a non-bind mount
    ///   without a type.
    public static func parse(type: String?, options: [String]) throws -> LinuxMountParameters {
        var p = LinuxMountParameters()
        var dataWords: [String] = []
        if type == "bind" { p.isBind = true; p.flags |= msBind }
        for (index, word) in options.enumerated() {
            if word.isEmpty {
                throw MountOptionError(option: word, index: index, message: "empty mount option")
            }
            if let (clear, flag) = flagWords[word] {
                if clear { p.flags &= ~flag; p.clearFlags |= flag } else { p.flags |= flag; p.clearFlags &= ~flag }
                continue
            }
            if word == "bind" || word == "rbind" {
                p.isBind = true
                p.flags |= msBind | (word == "rbind" ? msRec : 0)
                continue
            }
            if let prop = propagationFlag(named: word) {
                p.propagation = prop
                continue
            }
            if let reason = unsupportedWords[word] {
                throw MountOptionError(option: word, index: index, message: "\"\(word)\" is not supported: \(reason)")
            }
            if word.hasPrefix("r"), flagWords[String(word.dropFirst())] != nil {
                throw MountOptionError(
                    option: word, index: index,
                    message: "\"\(word)\" is not supported: recursive mount attributes need mount_setattr(2)")
            }
            dataWords.append(word)
        }
        if !p.isBind && (type ?? "").isEmpty {
            throw MountOptionError(option: nil, index: nil, message: "a mount type is required unless the mount is a bind mount")
        }
        p.data = dataWords.joined(separator: ",")
        if p.isBind {
            p.needsRemount = p.flags & ~(msBind | msRec | msRemount) != 0 || p.clearFlags != 0
        }
        return p
    }

    /// The MS_* propagation flags for a propagation word ("rslave" → MS_SLAVE|MS_REC), or nil.
    /// Also used for `linux.rootfsPropagation`.
    public static func propagationFlag(named word: String) -> UInt? {
        switch word {
        case "private": return UInt(MS_PRIVATE)
        case "rprivate": return UInt(MS_PRIVATE) | msRec
        case "shared": return UInt(MS_SHARED)
        case "rshared": return UInt(MS_SHARED) | msRec
        case "slave": return UInt(MS_SLAVE)
        case "rslave": return UInt(MS_SLAVE) | msRec
        case "unbindable": return UInt(MS_UNBINDABLE)
        case "runbindable": return UInt(MS_UNBINDABLE) | msRec
        default: return nil
        }
    }

    static let msBind = UInt(MS_BIND)
    static let msRec = UInt(MS_REC)
    static let msRemount = UInt(MS_REMOUNT)

    /// Flag words: (clears the flag?, MS_* flag), as mount(8) and runc define them.
    static let flagWords: [String: (clear: Bool, flag: UInt)] = [
        "defaults": (false, 0),
        "ro": (false, UInt(MS_RDONLY)), "rw": (true, UInt(MS_RDONLY)),
        "nosuid": (false, UInt(MS_NOSUID)), "suid": (true, UInt(MS_NOSUID)),
        "nodev": (false, UInt(MS_NODEV)), "dev": (true, UInt(MS_NODEV)),
        "noexec": (false, UInt(MS_NOEXEC)), "exec": (true, UInt(MS_NOEXEC)),
        "sync": (false, UInt(MS_SYNCHRONOUS)), "async": (true, UInt(MS_SYNCHRONOUS)),
        "dirsync": (false, UInt(MS_DIRSYNC)),
        "remount": (false, UInt(MS_REMOUNT)),
        "mand": (false, UInt(MS_MANDLOCK)), "nomand": (true, UInt(MS_MANDLOCK)),
        "noatime": (false, UInt(MS_NOATIME)), "atime": (true, UInt(MS_NOATIME)),
        "nodiratime": (false, UInt(MS_NODIRATIME)), "diratime": (true, UInt(MS_NODIRATIME)),
        "relatime": (false, UInt(MS_RELATIME)), "norelatime": (true, UInt(MS_RELATIME)),
        "strictatime": (false, UInt(MS_STRICTATIME)), "nostrictatime": (true, UInt(MS_STRICTATIME)),
        // Linux 5.10+; runc treats these as flags too.
        "nosymfollow": (false, UInt(MS_NOSYMFOLLOW)), "symfollow": (true, UInt(MS_NOSYMFOLLOW)),
    ]

    /// Words runc/crun know but AEGIS does not implement, with the reason.
    static let unsupportedWords: [String: String] = [
        "tmpcopyup": "copying the image's directory contents into the tmpfs is not implemented",
        "idmap": "ID-mapped mounts are not implemented",
        "ridmap": "ID-mapped mounts are not implemented",
    ]
}

/// A mount option AEGIS cannot translate. `index` is the position in `options` (nil when the
/// problem is the mount as a whole, such as a missing type).
public struct MountOptionError: Error, CustomStringConvertible, Sendable, Equatable {
    public var option: String?
    public var index: Int?
    public var message: String

    public init(option: String?, index: Int?, message: String) {
        self.option = option
        self.index = index
        self.message = message
    }

    public var description: String {
        if let index { return "options[\(index)]: \(message)" }
        return message
    }
}
