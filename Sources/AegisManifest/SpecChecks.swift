// SpecChecks.swift — rules shared by manifests and `aegis run`: names, relative paths, input size,
// environment names, and the execve size limits of argv and environment.
import AegisProtocol

/// Limits applied to every spec.
public enum ManifestLimits {
    /// Default cap on the total size of all inputs (uploaded files plus an inline script): 16 MiB.
    public static let defaultMaxInputBytes = 16 << 20
    /// Default cap on the manifest text itself: 1 MiB.
    public static let defaultMaxManifestBytes = 1 << 20
    /// Largest single argv or environment string: MAX_ARG_STRLEN (32 pages = 128 KiB, Linux
    /// include/uapi/linux/binfmts.h); execve(2) fails with E2BIG beyond it.
    public static let maxArgStringBytes = 128 << 10
    /// Cap on argv plus environment together, 1 MiB: below Linux's execve limit of a quarter of the
    /// stack rlimit (2 MiB at the usual 8 MiB), leaving room for the runtime's own environment.
    public static let maxArgvEnvBytes = 1 << 20
    /// Most input files one workload may carry.
    public static let maxInputFiles = 10_000
    /// Smallest memory limit accepted: 1 MiB. Below it no interpreter starts, and a bare number such
    /// as `memory: 256` (bytes) is almost always a forgotten suffix.
    public static let minMemoryBytes: Int64 = 1 << 20
}

enum SpecChecks {
    /// Workload names: `[a-z0-9][a-z0-9-]{0,62}` (a DNS label without the trailing-hyphen rule).
    static func checkName(_ name: String, path: String) throws {
        let u = Array(name.utf8)
        let ok = (1...63).contains(u.count) && isLowerAlnum(u[0]) && u.allSatisfy { isLowerAlnum($0) || $0 == 0x2D }
        guard ok else {
            throw ManifestError(
                path: path,
                message:
                    "\(Quantity.quoted(name)) is not a valid name: use 1-63 lowercase letters, digits and '-', starting with a letter or digit"
            )
        }
    }

    static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }

    static func checkRuntime(_ runtime: String, path: String) throws {
        guard runtime == RuntimeCommands.command || RuntimeCommands.isValidName(runtime) else {
            throw ManifestError(
                path: path,
                message: "\(Quantity.quoted(runtime)) is not a runtime name (python3, node, deno, bun, ruby, java, go, … or \"command\")")
        }
    }

    /// Environment variable names: `[A-Za-z_][A-Za-z0-9_]*` (POSIX.1-2017 XBD 8.1 portable names).
    static func checkEnvName(_ key: String, path: String) throws {
        let u = Array(key.utf8)
        let ok =
            !u.isEmpty && !(u[0] >= 0x30 && u[0] <= 0x39)
            && u.allSatisfy { RuntimeCommands.isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
        guard ok else {
            throw ManifestError(
                path: path,
                message:
                    "\(Quantity.quoted(key)) is not a valid environment variable name (letters, digits and _, not starting with a digit)")
        }
    }

    /// A path inside the working directory, normalized: "./a//b/" → "a/b". Refuses absolute paths,
    /// "..", NUL, components over NAME_MAX (255 bytes) and paths over PATH_MAX − 1 (4095 bytes).
    static func relativePath(_ raw: String, path: String, what: String = "path") throws -> String {
        func fail(_ why: String) -> ManifestError {
            ManifestError(path: path, message: "\(what) \(Quantity.quoted(raw)) \(why)")
        }
        if raw.isEmpty { throw fail("is empty") }
        if raw.utf8.contains(0) { throw fail("contains a NUL byte") }
        if raw.hasPrefix("/") || raw.hasPrefix("~") { throw fail("must be relative to the working directory, not absolute") }
        var parts: [Substring] = []
        for c in raw.split(separator: "/", omittingEmptySubsequences: true) where c != "." {
            if c == ".." { throw fail("must not contain \"..\" (it must stay inside the working directory)") }
            if c.utf8.count > 255 { throw fail("has a component longer than 255 bytes") }
            parts.append(c)
        }
        if parts.isEmpty { throw fail("names the working directory itself, not a file in it") }
        let joined = parts.joined(separator: "/")
        if joined.utf8.count > 4095 { throw fail("is longer than 4095 bytes") }
        return joined
    }

    /// Uploaded inputs with normalized keys; refuses bad or colliding paths and a total over the cap.
    static func normalizedInputs(_ inputs: [String: [UInt8]], path: String) throws -> [String: [UInt8]] {
        guard inputs.count <= ManifestLimits.maxInputFiles else {
            throw ManifestError(path: path, message: "\(inputs.count) uploaded files, over the limit of \(ManifestLimits.maxInputFiles)")
        }
        var out: [String: [UInt8]] = [:]
        for key in inputs.keys.sorted() {
            let n = try relativePath(key, path: path, what: "uploaded file")
            guard out[n] == nil else {
                throw ManifestError(
                    path: path, message: "uploaded files \(Quantity.quoted(key)) and another name the same path \(Quantity.quoted(n))")
            }
            out[n] = inputs[key]
        }
        // A file may not also be a directory of another ("a" and "a/b").
        for key in out.keys.sorted() {
            for slash in key.indices where key[slash] == "/" && out[String(key[..<slash])] != nil {
                throw ManifestError(
                    path: path,
                    message:
                        "uploaded file \(Quantity.quoted(String(key[..<slash]))) is also used as a directory by \(Quantity.quoted(key))")
            }
        }
        return out
    }

    static func checkTotalSize(_ inputs: [String: [UInt8]], max: Int, path: String) throws {
        let total = inputs.values.reduce(0) { $0 + $1.count }
        guard total <= max else {
            throw ManifestError(
                path: path,
                message: "inputs total \(total) bytes in \(inputs.count) file(s), over the limit of \(max) bytes (\(describeBytes(max)))")
        }
    }

    /// execve(2) limits: each string ≤ MAX_ARG_STRLEN, all of argv + env ≤ `maxArgvEnvBytes`.
    static func checkArgvEnv(args: [String], env: [String: String], argsPath: String, envPath: String) throws {
        var total = 0
        for (i, a) in args.enumerated() {
            guard a.utf8.count < ManifestLimits.maxArgStringBytes else {
                throw ManifestError(
                    path: "\(argsPath)[\(i)]",
                    message: "argument is \(a.utf8.count) bytes; execve(2) refuses strings of 128 KiB or more (MAX_ARG_STRLEN)")
            }
            guard !a.utf8.contains(0) else { throw ManifestError(path: "\(argsPath)[\(i)]", message: "argument contains a NUL byte") }
            total += a.utf8.count + 1
        }
        for (k, v) in env {
            let size = k.utf8.count + 1 + v.utf8.count
            guard size < ManifestLimits.maxArgStringBytes else {
                throw ManifestError(
                    path: "\(envPath).\(k)",
                    message: "\(k)=… is \(size) bytes; execve(2) refuses strings of 128 KiB or more (MAX_ARG_STRLEN)")
            }
            guard !v.utf8.contains(0) else { throw ManifestError(path: "\(envPath).\(k)", message: "value contains a NUL byte") }
            total += size + 1
        }
        guard total <= ManifestLimits.maxArgvEnvBytes else {
            throw ManifestError(
                path: argsPath,
                message:
                    "arguments and environment total \(total) bytes, over the limit of \(ManifestLimits.maxArgvEnvBytes) bytes (1 MiB); pass large data as an input file"
            )
        }
    }

    static func checkMemoryMinimum(_ bytes: Int64, text: String, path: String) throws {
        guard bytes >= ManifestLimits.minMemoryBytes else {
            let hint = text.allSatisfy(Quantity.isDigit) ? " (did you mean \(text)Mi?)" : ""
            throw ManifestError(path: path, message: "\(bytes) bytes is below the minimum of 1 MiB\(hint)")
        }
    }

    static func describeBytes(_ n: Int) -> String {
        if n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) B"
    }
}
