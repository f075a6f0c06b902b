// RuntimeCommands.swift — how a runtime name becomes an argv: the interpreter command, the file
// extension of an inline script, and the runtime a file extension implies.

/// The interpreter table shared by manifests and `aegis run`.
public enum RuntimeCommands {
    /// The runtime name that means "run `command` as given" (no interpreter, no runtime requirement).
    public static let command = "command"

    /// Interpreter argv for a runtime, to which the script or file path is appended:
    /// python3 → `["python3"]`, node → `["node"]`, deno → `["deno", "run"]`, bun → `["bun", "run"]`,
    /// ruby → `["ruby"]`, java → `["java"]` (JEP 330 single-file source launch, JDK 11+),
    /// go → `["go", "run"]`; any other name → `[name]`.
    public static func interpreter(for runtime: String) -> [String] {
        switch runtime {
        case "deno": return ["deno", "run"]
        case "bun": return ["bun", "run"]
        case "go": return ["go", "run"]
        default: return [runtime]
        }
    }

    /// File extension (without the dot) of an inline `script`, written to the working directory as
    /// `main.<ext>`: python/python3 → py, node → js, deno → ts, bun → ts, ruby → rb, java → java,
    /// go → go, perl → pl, php → php, bash/sh/dash/zsh → sh, lua → lua, Rscript → R; any other
    /// runtime → the runtime's own name (`main.<runtime>`), since such interpreters ignore it.
    public static func scriptExtension(for runtime: String) -> String {
        switch runtime {
        case "python", "python3", "pypy3": return "py"
        case "node": return "js"
        case "deno", "bun": return "ts"
        case "ruby": return "rb"
        case "java": return "java"
        case "go": return "go"
        case "perl": return "pl"
        case "php": return "php"
        case "bash", "sh", "dash", "zsh": return "sh"
        case "lua": return "lua"
        case "Rscript": return "R"
        default: return runtime
        }
    }

    /// The runtime a file's extension implies, for manifests that give `file` but no `runtime`:
    /// .py → python3, .js/.mjs/.cjs → node, .ts → deno, .rb → ruby, .java → java, .go → go,
    /// .pl → perl, .php → php, .sh → bash, .lua → lua; nil otherwise.
    public static func runtime(forFile path: String) -> String? {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...] {
        case "py": return "python3"
        case "js", "mjs", "cjs": return "node"
        case "ts": return "deno"
        case "rb": return "ruby"
        case "java": return "java"
        case "go": return "go"
        case "pl": return "perl"
        case "php": return "php"
        case "sh": return "bash"
        case "lua": return "lua"
        default: return nil
        }
    }

    /// Whether `name` is a well-formed runtime name: 1–32 characters, starting with a letter, then
    /// letters, digits, `.`, `_`, `+`, `-` (matches executable names such as python3, node, Rscript).
    public static func isValidName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        guard (1...32).contains(u.count), isLetter(u[0]) else { return false }
        return u.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2B || $0 == 0x2D }
    }

    static func isLetter(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) }
}
