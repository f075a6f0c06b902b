// swift-tools-version:6.0
// AEGIS — container-native pod orchestrator. Module layout follows docs/architecture.md:
// shim (C) → OCI model → sandbox → executables. Each target is one concern.
import PackageDescription

let package = Package(
    name: "aegis",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "aegis-runtime", targets: ["aegis-runtime"]),
        .library(name: "AegisSandbox", targets: ["AegisSandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Everything that runs between clone and execve, the sandbox's init and the per-sandbox
        // supervisor. Plain C, no allocation after fork. Links libseccomp (filter compilation in the
        // parent) and libcap (capability names).
        .target(
            name: "CAegisShim",
            path: "Sources/CAegisShim",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("seccomp"), .linkedLibrary("cap")]
        ),
        // Codable OCI runtime-spec (config.json) and state models, with field-naming validation.
        .target(name: "AegisOCI"),
        // cgroup v2: find the hierarchy, leaves per sandbox, limits, kill, stats.
        .target(name: "AegisCgroup"),
        // Seccomp: OCI seccomp → libseccomp → cached classic-BPF program; the default profile.
        .target(name: "AegisSeccomp", dependencies: ["CAegisShim", "AegisOCI"]),
        // Versioned wire/data types shared by controller, worker, CLI (and later gateway, edge).
        .target(name: "AegisProtocol"),
        // Sandboxes: create/start/kill/wait/delete/re-adopt, state dirs, the default agent profile.
        .target(name: "AegisSandbox", dependencies: ["CAegisShim", "AegisOCI", "AegisCgroup", "AegisSeccomp"]),
        // The OCI runtime command line (runc-compatible flags).
        .executableTarget(
            name: "aegis-runtime",
            dependencies: ["AegisSandbox", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The per-sandbox supervisor the shim execs once the container process is running.
        .executableTarget(name: "aegis-supervisor", dependencies: ["CAegisShim"], path: "Sources/aegis-supervisor"),
        // Test helper run inside sandboxes: attempts denied syscalls and prints each errno.
        .executableTarget(name: "aegis-probe", path: "Sources/aegis-probe", cSettings: [.define("_GNU_SOURCE")]),
        // In-process spawn benchmark (the worker daemon's path).
        .executableTarget(name: "aegis-bench", dependencies: ["AegisSandbox"], path: "Benchmarks/aegis-bench"),

        .testTarget(name: "AegisOCITests", dependencies: ["AegisOCI"]),
        .testTarget(name: "AegisCgroupTests", dependencies: ["AegisCgroup"]),
        .testTarget(name: "AegisSeccompTests", dependencies: ["AegisSeccomp", "AegisOCI", "CAegisShim"]),
        .testTarget(name: "AegisSandboxTests", dependencies: ["AegisSandbox", "AegisOCI", "CAegisShim"]),
        .testTarget(name: "RuntimeTests", dependencies: ["AegisOCI"]),
        // Boots Debian's kernel under qemu (Tests/VM/vm-run) to prove cgroup v2 limits.
        .testTarget(name: "VMTests", dependencies: ["AegisSandbox", "AegisOCI"]),
    ]
)
