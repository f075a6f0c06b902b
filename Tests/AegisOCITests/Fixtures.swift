import XCTest
import Glibc
@testable import AegisOCI

/// The config.json that `runc spec` writes (runc 1.1 shape), tab-indented as runc prints it.
let runcDefaultConfig = """
    {
    \t"ociVersion": "1.0.2-dev",
    \t"process": {
    \t\t"terminal": true,
    \t\t"user": {
    \t\t\t"uid": 0,
    \t\t\t"gid": 0
    \t\t},
    \t\t"args": [
    \t\t\t"sh"
    \t\t],
    \t\t"env": [
    \t\t\t"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    \t\t\t"TERM=xterm"
    \t\t],
    \t\t"cwd": "/",
    \t\t"capabilities": {
    \t\t\t"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    \t\t\t"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    \t\t\t"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    \t\t\t"ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    \t\t},
    \t\t"rlimits": [
    \t\t\t{
    \t\t\t\t"type": "RLIMIT_NOFILE",
    \t\t\t\t"hard": 1024,
    \t\t\t\t"soft": 1024
    \t\t\t}
    \t\t],
    \t\t"noNewPrivileges": true
    \t},
    \t"root": {
    \t\t"path": "rootfs",
    \t\t"readonly": true
    \t},
    \t"hostname": "runc",
    \t"mounts": [
    \t\t{"destination": "/proc", "type": "proc", "source": "proc"},
    \t\t{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
    \t\t "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    \t\t{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
    \t\t "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    \t\t{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
    \t\t "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    \t\t{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
    \t\t "options": ["nosuid", "noexec", "nodev"]},
    \t\t{"destination": "/sys", "type": "sysfs", "source": "sysfs",
    \t\t "options": ["nosuid", "noexec", "nodev", "ro"]},
    \t\t{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
    \t\t "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    \t],
    \t"linux": {
    \t\t"resources": {
    \t\t\t"devices": [
    \t\t\t\t{
    \t\t\t\t\t"allow": false,
    \t\t\t\t\t"access": "rwm"
    \t\t\t\t}
    \t\t\t]
    \t\t},
    \t\t"namespaces": [
    \t\t\t{"type": "pid"},
    \t\t\t{"type": "network"},
    \t\t\t{"type": "ipc"},
    \t\t\t{"type": "uts"},
    \t\t\t{"type": "mount"},
    \t\t\t{"type": "cgroup"}
    \t\t],
    \t\t"maskedPaths": [
    \t\t\t"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    \t\t\t"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    \t\t],
    \t\t"readonlyPaths": [
    \t\t\t"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
    \t\t]
    \t}
    }
    """

func decodeRuncDefault() throws -> Spec {
    try Spec.decode(Array(runcDefaultConfig.utf8), file: "runc-default.json")
}

/// runc's default spec with `terminal` off: the baseline every validation test starts from, so each
/// test changes exactly one thing.
func validBaseline() throws -> Spec {
    var spec = try decodeRuncDefault()
    spec.process?.terminal = false
    return spec
}

/// Asserts that `spec.validate()` throws a SpecError at `path` whose message contains `message`.
func assertInvalid(
    _ spec: Spec, path: String, message: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        try spec.validate()
        XCTFail("expected \(path): …\(message)…, but the spec validated", file: file, line: line)
    } catch let e as SpecError {
        XCTAssertEqual(e.path, path, "message was: \(e)", file: file, line: line)
        XCTAssertTrue(e.message.contains(message), "message \"\(e.message)\" lacks \"\(message)\"", file: file, line: line)
        XCTAssertEqual(e.description, "\(e.path): \(e.message)", file: file, line: line)
    } catch {
        XCTFail("unexpected error type: \(error)", file: file, line: line)
    }
}

/// Decodes `json` and returns the SpecLoadError it must produce.
func loadError(_ json: String, file: StaticString = #filePath, line: UInt = #line) -> SpecLoadError? {
    do {
        _ = try Spec.decode(Array(json.utf8), file: "bundle/config.json")
        XCTFail("expected a decoding error", file: file, line: line)
    } catch let e as SpecLoadError {
        return e
    } catch {
        XCTFail("unexpected error type: \(error)", file: file, line: line)
    }
    return nil
}

/// A fresh temporary directory (mkdtemp), removed by the returned cleanup.
func makeTempDir() throws -> String {
    var template = Array("/tmp/aegis-oci-test-XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw SpecError(path: "mkdtemp", message: "errno \(errno)") }
    return String(cString: p)
}

func writeFile(_ path: String, _ contents: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw SpecError(path: path, message: "open errno \(errno)") }
    defer { close(fd) }
    let bytes = Array(contents.utf8)
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard n == bytes.count else { throw SpecError(path: path, message: "short write") }
}

func removeTree(_ path: String) {
    // Only files and one level of directories are created by these tests.
    if let dir = opendir(path) {
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if unlink(child) != 0 { removeTree(child) }
        }
        closedir(dir)
        rmdir(path)
    } else {
        unlink(path)
    }
}
