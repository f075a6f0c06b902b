// Installer.swift — `aegis install hybrid|worker|controller` and `aegis uninstall`, in the spirit
// of k3s's installer: the binaries (aegis with its aegis-supervisor and aegis-init, always
// together) to /usr/local/bin, the unit (InstalledUnits: the files of systemd/ built in), its
// /etc/default file, /etc/aegis/config.yaml (and the join token, 0600), for the controller its
// pod YAML and image; then daemon-reload, enable --now, and a wait for readiness (the units are
// Type=notify, so `systemctl start` returns once the node said READY=1). Every write is skipped
// when the file already holds the same bytes, so running it again changes nothing; a changed
// binary or unit restarts the service. Uninstall stops the agents first (`aegis down`) unless
// told to keep them, removes what install wrote, and with `purge` the data dir too.
import AegisSystem
import Foundation

/// What `aegis install` installs.
public struct InstallRequest: Sendable {
    public enum Role: String, Sendable, CaseIterable { case hybrid, worker, controller }
    public var role: Role
    /// Worker: the controller's cluster port.
    public var join: String?
    /// Worker: the join token (written to /etc/aegis/join-token, 0600).
    public var token: String?
    public var name: String?
    /// Controller: the oci-archive scripts/build-image.sh wrote ("oci-archive:PATH:TAG" or PATH).
    public var image: String?
    /// Install without starting (the unit is enabled).
    public var start = true

    public init(role: Role) { self.role = role }
}

/// A step of install or uninstall that failed: which, on what, and why.
public struct InstallError: Error, CustomStringConvertible, Sendable {
    public var step: String
    public var message: String
    public var description: String { "\(step): \(message)" }
    public init(_ step: String, _ message: String) {
        self.step = step
        self.message = message
    }
}

public struct Installer: Sendable {
    /// Where things go; tests in a VM use the defaults, as an operator does.
    public var binDirectory = "/usr/local/bin"
    public var shareDirectory = "/usr/local/share/aegis"
    public var configDirectory = "/etc/aegis"
    public var unitDirectory = "/etc/systemd/system"
    public var defaultsDirectory = "/etc/default"
    public var dataDirectory = "/var/lib/aegis"
    /// The directory of the binaries to install (default: the running aegis's).
    public var sourceDirectory: String
    /// Progress lines ("installed /usr/local/bin/aegis").
    public var say: @Sendable (String) -> Void

    public static let binaries = ["aegis", "aegis-supervisor", "aegis-init"]

    public init(sourceDirectory: String? = nil, say: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.sourceDirectory = sourceDirectory ?? Self.runningBinaryDirectory()
        self.say = say
    }

    static func runningBinaryDirectory() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    /// The unit whose delegated cgroup holds every sandbox (systemd/aegis-agents.service).
    public static let agentsUnit = "aegis-agents.service"

    /// The unit of a role.
    public static func unitName(_ role: InstallRequest.Role) -> String {
        switch role {
        case .hybrid: return "aegis.service"
        case .worker: return "aegis-worker.service"
        case .controller: return "aegis-controller.service"
        }
    }

    // MARK: install

    /// Installs and (unless `request.start` is false) starts the unit, waiting until it is active.
    /// - Returns: the lines to print about what to do next.
    /// - Throws: `InstallError` naming the step.
    public func install(_ request: InstallRequest) throws(InstallError) -> [String] {
        guard geteuid() == 0 else { throw InstallError("install", "needs root (it writes /usr/local/bin, /etc and runs systemctl)") }
        let unit = Self.unitName(request.role)
        if request.role == .worker, request.join == nil {
            throw InstallError("--join", "a worker needs the controller's cluster port: --join https://HOST:PORT")
        }
        if request.role == .controller, request.image == nil {
            throw InstallError("--image", "the controller pod needs its image: --image the oci-archive of scripts/build-image.sh")
        }
        for other in InstallRequest.Role.allCases where other != request.role {
            let path = unitDirectory + "/" + Self.unitName(other)
            if FileManager.default.fileExists(atPath: path) {
                throw InstallError(
                    "install", "\(Self.unitName(other)) is installed on this host; `aegis uninstall` first (one node per host)")
            }
        }
        var changed = false
        for name in Self.binaries {
            changed = try copyBinary(name) || changed
        }
        try makeDirectory(configDirectory, mode: 0o755)
        changed = try write(configDirectory + "/config.yaml", configYAML(request), mode: 0o644) || changed
        if let token = request.token {
            changed = try write(configDirectory + "/join-token", token + "\n", mode: 0o600) || changed
        }
        if request.role == .controller, let image = request.image {
            changed = try installControllerPod(image: image) || changed
        }
        let defaults = defaultsDirectory + "/" + (unit as NSString).deletingPathExtension
        if !FileManager.default.fileExists(atPath: defaults) {
            _ = try write(
                defaults,
                "# Extra flags for \(unit) (see `aegis up --help`); settings go in \(configDirectory)/config.yaml.\nAEGIS_ARGS=\n",
                mode: 0o644)
        }
        _ = try write(unitDirectory + "/" + Self.agentsUnit, InstalledUnits.text(of: Self.agentsUnit), mode: 0o644)
        changed = try write(unitDirectory + "/" + unit, InstalledUnits.text(of: unit), mode: 0o644) || changed
        try systemctl(["daemon-reload"])
        try systemctl(["enable", Self.agentsUnit, unit])
        guard request.start else { return ["installed \(unit) (enabled, not started): systemctl start \(unit)"] }
        let active = (try? systemctl(["is-active", "--quiet", unit])) != nil
        try systemctl([active && changed ? "restart" : "start", unit])
        guard (try? systemctl(["is-active", "--quiet", unit])) != nil else {
            throw InstallError("start", "\(unit) did not become active: journalctl -u \(unit) -n 50")
        }
        return nextSteps(request, unit: unit)
    }

    /// The config file: the role's settings, keys as `aegis up`'s flags.
    func configYAML(_ r: InstallRequest) -> String {
        var lines = ["# Written by `aegis install \(r.role.rawValue)`. Keys are `aegis up` flag names (aegis up --help)."]
        lines.append("data-dir: \(Self.quoted(dataDirectory))")
        if let name = r.name { lines.append("name: \(Self.quoted(name))") }
        switch r.role {
        case .hybrid:
            break
        case .worker:
            lines.append("join: \(Self.quoted(r.join ?? ""))")
            if r.token != nil { lines.append("token-file: \(Self.quoted(configDirectory + "/join-token"))") }
        case .controller:
            lines.append("# The controller runs as a pod (\(configDirectory)/aegis-controller.yaml); this file is not read by it.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The pod YAML with the installed image and data dir; the image archive copied.
    func installControllerPod(image: String) throws(InstallError) -> Bool {
        var path = image, tag = "latest"
        if image.hasPrefix("oci-archive:") {
            let rest = image.dropFirst("oci-archive:".count)
            if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
                path = String(rest[..<colon])
                tag = String(rest[rest.index(after: colon)...])
            } else {
                path = String(rest)
            }
        }
        guard FileManager.default.fileExists(atPath: path) else { throw InstallError("--image", "\(path): no such file") }
        guard let first = tag.utf8.first, tag.utf8.count <= 128, first != UInt8(ascii: "."), first != UInt8(ascii: "-"),
            tag.utf8.allSatisfy({ OCITagBytes.allowed($0) })
        else { throw InstallError("--image", "\(image): the tag \"\(tag)\" is not an OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})") }
        try makeDirectory(shareDirectory, mode: 0o755)
        let installed = shareDirectory + "/aegis-image.tar"
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw InstallError("--image", "\(path): \(error.localizedDescription)")
        }
        var changed = try write(installed, bytes, mode: 0o644)
        let pod = InstalledUnits.controllerPod
            .replacingOccurrences(of: "image: localhost:5000/aegis:dev", with: "image: oci-archive:\(installed):\(tag)")
            .replacingOccurrences(of: "path: /var/lib/aegis\n", with: "path: \(dataDirectory)\n")
            .replacingOccurrences(of: "path: /var/lib/aegis/pki\n", with: "path: \(dataDirectory)/pki\n")
        changed = try write(configDirectory + "/aegis-controller.yaml", pod, mode: 0o644) || changed
        return changed
    }

    /// A YAML double-quoted scalar (no `#`, `: ` or `*` in a value can change the document).
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\x%02x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    func nextSteps(_ r: InstallRequest, unit: String) -> [String] {
        var out = ["\(unit) is active: systemctl status \(unit); journalctl -u \(unit) -f"]
        switch r.role {
        case .hybrid:
            out.append("run an agent: aegis run -- python3 -c 'print(1)'")
            out.append(
                "let workers join: aegis token create --role worker, then on each: aegis install worker --join https://THIS-HOST:7443 --token T"
            )
        case .worker:
            out.append("the controller lists it: aegis node ls (on the controller)")
        case .controller:
            out.append("admin token: \(dataDirectory)/admin.token; workers: aegis token create --role worker --server unix://…")
        }
        out.append("remove: aegis uninstall [--keep-agents] [--purge]")
        return out
    }

    // MARK: uninstall

    /// Stops and removes every AEGIS unit of this host; agents are stopped first unless
    /// `keepAgents`; `purge` also removes the data dir, /etc/aegis, the shared files and the
    /// binaries.
    /// - Throws: `InstallError` naming the step.
    public func uninstall(keepAgents: Bool, purge: Bool) throws(InstallError) {
        guard geteuid() == 0 else { throw InstallError("uninstall", "needs root") }
        if keepAgents && purge {
            throw InstallError("--purge", "removes the data dir the kept agents still use: pass one of --keep-agents and --purge")
        }
        for role in InstallRequest.Role.allCases {
            let unit = Self.unitName(role), path = unitDirectory + "/" + unit
            guard FileManager.default.fileExists(atPath: path) else { continue }
            if (try? systemctl(["is-active", "--quiet", unit])) != nil, !keepAgents, role != .controller {
                // Drains: agents stopped and recorded; the daemon exits 0, which the unit does not restart.
                say("stopping the agents of \(unit) (aegis down)")
                _ = try? run(binDirectory + "/aegis", ["down", "--data-dir", installedDataDirectory()])
            }
            try systemctl(["disable", "--now", unit])
            remove(path)
            remove(defaultsDirectory + "/" + (unit as NSString).deletingPathExtension)
            say("removed \(unit)")
        }
        let agents = unitDirectory + "/" + Self.agentsUnit
        if FileManager.default.fileExists(atPath: agents) {
            if keepAgents {
                say("kept \(Self.agentsUnit) and the agents in it (systemctl stop \(Self.agentsUnit) kills them)")
            } else {
                try systemctl(["disable", "--now", Self.agentsUnit])
                remove(agents)
            }
        }
        try systemctl(["daemon-reload"])
        _ = try? systemctl(["reset-failed"])
        guard purge else { return }
        for path in [installedDataDirectory(), configDirectory, shareDirectory] { remove(path) }
        for name in Self.binaries { remove(binDirectory + "/" + name) }
    }

    /// The data dir the installed node uses: `data-dir` of the installed config.yaml (an operator
    /// may have changed it), else `dataDirectory`.
    func installedDataDirectory() -> String {
        let file = configDirectory + "/config.yaml"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
            let arguments = try? NodeConfigFile.arguments(yaml: text, file: file).arguments,
            let at = arguments.firstIndex(of: "--data-dir"), at + 1 < arguments.count, arguments[at + 1].hasPrefix("/")
        else { return dataDirectory }
        return arguments[at + 1]
    }

    // MARK: files and commands

    /// Copies a binary next to the running aegis into `binDirectory` (temp file + rename).
    func copyBinary(_ name: String) throws(InstallError) -> Bool {
        let source = sourceDirectory + "/" + name, target = binDirectory + "/" + name
        guard source != target else { return false }
        guard let bytes = FileManager.default.contents(atPath: source) else {
            throw InstallError("copy \(name)", "\(source): not found (aegis, aegis-supervisor and aegis-init are installed together)")
        }
        return try write(target, bytes, mode: 0o755)
    }

    func makeDirectory(_ path: String, mode: mode_t) throws(InstallError) {
        do { try FileSystem.makeDirectories(path, mode: mode) } catch { throw InstallError("mkdir \(path)", "\(error)") }
    }

    /// Writes `text` unless the file holds it already; true when it wrote.
    func write(_ path: String, _ text: String, mode: mode_t) throws(InstallError) -> Bool {
        try write(path, Data(text.utf8), mode: mode)
    }

    func write(_ path: String, _ bytes: Data, mode: mode_t) throws(InstallError) -> Bool {
        // Sizes first: a changed binary or image (hundreds of MB) is not read back in full.
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        if size == bytes.count, FileManager.default.contents(atPath: path) == bytes {
            chmod(path, mode)
            return false
        }
        // A new file created with `mode` from the start (O_EXCL, fchmod), fsync'ed, renamed over
        // the old one: a join token is never readable by others, not even for a moment.
        do { try FileSystem.writeAtomically(path, [UInt8](bytes), mode: mode) } catch {
            throw InstallError("write \(path)", "\(error)")
        }
        say("wrote \(path)")
        return true
    }

    func remove(_ path: String) {
        if (try? FileManager.default.removeItem(atPath: path)) != nil { say("removed \(path)") }
    }

    /// `systemctl ARGS`; throws with its output when it fails.
    @discardableResult
    func systemctl(_ arguments: [String]) throws(InstallError) -> String {
        try run("/usr/bin/systemctl", arguments)
    }

    @discardableResult
    func run(_ executable: String, _ arguments: [String]) throws(InstallError) -> String {
        let step = ([(executable as NSString).lastPathComponent] + arguments).joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { throw InstallError(step, "\(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            throw InstallError(step, "exit \(process.terminationStatus)" + (text.isEmpty ? "" : ": " + text))
        }
        return text
    }
}

/// The bytes of an OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]*).
enum OCITagBytes {
    static func allowed(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x2D
    }
}
