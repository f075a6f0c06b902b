// swift-tools-version:6.0
// AEGIS — container-native pod orchestrator. Module layout follows docs/architecture.md:
// shim (C) → OCI model → sandbox → executables. Each target is one concern.
import PackageDescription

let package = Package(
    name: "aegis",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "aegis", targets: ["aegis"]),
        .executable(name: "aegis-runtime", targets: ["aegis-runtime"]),
        .library(name: "AegisSandbox", targets: ["AegisSandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
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
        // System calls and GNU functions Glibc does not offer to Swift (openat2, pidfd, memfd,
        // strerrorname_np), for AegisSystem; others import it only for the epoll/signalfd headers.
        .target(name: "CAegisSys", path: "Sources/CAegisSys", cSettings: [.define("_GNU_SOURCE")]),
        // The OS layer: errno names, SystemError, whole-file reads, atomic writes, mkdir -p, tree
        // removal, /proc readers, pidfd/openat2/memfd, Duration units. Every module's one copy.
        .target(name: "AegisSystem", dependencies: ["CAegisSys"]),
        // Codable OCI runtime-spec (config.json) and state models, with field-naming validation.
        .target(name: "AegisOCI", dependencies: ["AegisSystem", "AegisProtocol"]),
        // cgroup v2: find the hierarchy, leaves per sandbox, limits, kill, stats.
        .target(name: "AegisCgroup", dependencies: ["AegisSystem"]),
        // Seccomp: OCI seccomp → libseccomp → cached classic-BPF program; the default profile.
        .target(name: "AegisSeccomp", dependencies: ["CAegisShim", "AegisOCI", "AegisSystem"]),
        // Versioned wire/data types shared by controller, worker, CLI (and later gateway, edge).
        .target(name: "AegisProtocol"),
        // Sandboxes: create/start/kill/wait/delete/re-adopt, state dirs, the default agent profile.
        .target(name: "AegisSandbox", dependencies: ["CAegisShim", "AegisSystem", "AegisOCI", "AegisCgroup", "AegisSeccomp"]),
        // libarchive's reader (tar, gzip, zstd) for image layers; Debian's libarchive-dev.
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        // OCI images: references, registry client (distribution spec), OCI layouts and archives,
        // the content-addressed blob store, layer unpacking beneath the rootfs, image GC.
        .target(
            name: "AegisImage",
            dependencies: [
                "AegisSystem", "CArchive",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Agent manifests (YAML/JSON) → validated WorkloadSpec, errors with field and line.
        .target(name: "AegisManifest", dependencies: ["AegisProtocol", "Yams"]),
        // Placement: feasibility filter → score (bin-pack / spread), pending reasons, quotas.
        .target(name: "AegisScheduler", dependencies: ["AegisProtocol"]),
        // Controller state in SQLite (GRDB, WAL, versioned migrations).
        .target(
            name: "AegisStore",
            dependencies: [
                "AegisProtocol", "AegisSystem", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The PostgreSQL backend of ControlStateStore (postgres-nio: bounded pool, prepared
        // statements, TLS as libpq's sslmode), versioned migrations, and the leader lease whose
        // epoch fences every write of a controller that lost leadership.
        .target(
            name: "AegisStorePostgres",
            dependencies: [
                "AegisStore", "AegisProtocol", "AegisSystem",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Node networking for the egress mode: rtnetlink (bridge, veth, addresses, routes), held
        // network namespaces, address allocation, nftables policy through libnftables (dlopen'ed).
        .target(name: "AegisNet", dependencies: ["AegisProtocol", "AegisSystem"]),
        // Cluster PKI: the cluster CA, node keys and CSRs, signing, join tokens that pin the CA.
        .target(
            name: "AegisPKI",
            dependencies: [
                "AegisProtocol", "AegisSystem", .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // The worker: capability detection, agents run through AegisSandbox, logs, re-adoption.
        .target(
            name: "AegisNode",
            dependencies: [
                "AegisProtocol", "AegisSystem", "CAegisSys", "AegisSandbox", "AegisOCI", "AegisNet", "AegisImage",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The worker's outbound session to its controller: mutual TLS (the node identity from the
        // join), one WebSocket multiplexing registration, lease renewals, commands, logs, files.
        // Talks to a `NodeAgent` (the Worker conforms in AegisDaemon): links no sandbox runtime
        // and no controller, so the edge daemon and the relay can reuse it.
        .target(
            name: "AegisNodeLink",
            dependencies: [
                "AegisProtocol", "AegisPKI", "AegisSystem",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The controller: tenants, auth, quotas, scheduling loop, workload lifecycle.
        .target(
            name: "AegisControl",
            dependencies: [
                "AegisProtocol", "AegisStore", "AegisScheduler", "AegisManifest", "AegisPKI", "AegisSystem", "AegisMetrics",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The tenant-facing HTTP API (what a gateway sidecar will front), Hummingbird 2.
        .target(
            name: "AegisAPI",
            dependencies: [
                "AegisControl", "AegisWorkflow", "AegisProtocol", "AegisPKI", "AegisMetrics",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Prometheus metrics: the controller's and the gateway's series, both exposition formats, and
        // the metrics sidecar (`aegis metrics`: the controller's and the gateway's /metrics read over
        // their unix sockets, merged into one document on a TCP port).
        .target(
            name: "AegisMetrics",
            dependencies: [
                "AegisProtocol", "AegisSystem",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The CLI's client side: API client (AsyncHTTPClient over the unix socket or TCP), SSE parser,
        // table/YAML (Yams) formatting, quota flags, input-file collection.
        // Also the node side of joining (JoinClient, PinnedJoinTransport, join-token input).
        .target(
            name: "AegisClient",
            dependencies: [
                "AegisProtocol", "AegisSystem", "AegisPKI", "Yams",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // The cluster's front door (`aegis gateway`): TLS with the cluster CA's certificate, requests
        // streamed to the controller's unix socket, node sessions tunnelled, the verified client
        // certificate passed as X-Aegis-Gateway-Client-Certificate, request IDs, JSON access log,
        // body limits, per-tenant fair limits, probes, graceful drain.
        .target(
            name: "AegisGateway",
            dependencies: [
                "AegisPKI", "AegisProtocol", "AegisSystem", "AegisMetrics",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The relay (`aegis relay`): edges dial out to it with a relay ticket (Ed25519, signed by the
        // cluster; the relay holds only the public key), it forwards their end-to-end TLS streams to the
        // gateway as opaque bytes; the edge's dialer (a loopback listener spliced into a relay WebSocket).
        .target(
            name: "AegisRelay",
            dependencies: [
                "AegisSystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The node daemon as a library: `aegis up`'s validated NodeConfiguration, the controller /
        // hybrid runtime (NodeRuntime) and the worker runtime (WorkerRuntime), every long-running
        // loop a Service in one ServiceGroup; an in-process test harness (InProcessNode).
        .target(
            name: "AegisDaemon",
            dependencies: [
                "AegisAPI", "AegisControl", "AegisWorkflow", "AegisNode", "AegisImage", "AegisSandbox", "AegisNodeLink", "AegisNet", "AegisProtocol",
                "AegisScheduler", "AegisStore", "AegisStorePostgres", "AegisMetrics", "AegisPKI", "AegisClient", "AegisSystem",
                "AegisGateway",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                "Yams",
            ]),
        // Pods on a bare host, as a kubelet runs a static pod: Pod YAML (the Kubernetes v1 fields AEGIS
        // honours, every other one refused) → an infra holder of the shared namespaces and one sandbox
        // per container; probes, restarts with back-off, ordered stop, state on disk, re-adoption.
        .target(
            name: "AegisPod",
            dependencies: [
                "AegisManifest", "AegisProtocol", "AegisSandbox", "AegisSeccomp", "AegisImage", "AegisOCI", "AegisSystem", "Yams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Workflows: manifests (steps as agent specs, a DAG of dependencies, parameters, templates,
        // `when:` conditions, fan-out, retries, approvals, onExit), the pure DAG state and its
        // planner (which instance starts, retries, skips; deterministic placement identities), and
        // the DAG drawn as DOT or for the terminal; the engine that keeps runs in the store and
        // drives the controller through its public API (each step placement submitted once).
        .target(
            name: "AegisWorkflow",
            dependencies: [
                "AegisManifest", "AegisProtocol", "AegisControl", "AegisStore", "Yams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // `aegis`: argument parsing and printing only: CLI verbs over AegisClient, `aegis up` over AegisDaemon.
        .executableTarget(
            name: "aegis",
            dependencies: [
                "AegisDaemon", "AegisNodeLink", "AegisClient", "AegisManifest", "AegisProtocol", "AegisImage", "AegisPod", "AegisGateway",
                "AegisMetrics", "AegisStorePostgres", "AegisRelay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The OCI runtime command line (runc-compatible flags).
        .executableTarget(
            name: "aegis-runtime",
            dependencies: ["AegisSandbox", "AegisSystem", "CAegisSys", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The per-sandbox supervisor the shim execs once the container process is running.
        .executableTarget(name: "aegis-supervisor", dependencies: ["CAegisShim"], path: "Sources/aegis-supervisor"),
        // PID 1 of agent sandboxes, exec'ed from a sealed memfd: statically linked, so that no
        // library of the sandbox's rootfs is loaded and nothing of the daemon shows in /proc/1.
        .executableTarget(
            name: "aegis-init", path: "Sources/aegis-init", cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.unsafeFlags(["-static-executable"])]),
        // Test helper run inside sandboxes: attempts denied syscalls and prints each errno.
        .executableTarget(name: "aegis-probe", path: "Sources/aegis-probe", cSettings: [.define("_GNU_SOURCE")]),
        // Scheduler throughput and quality over 5,000 simulated nodes, decisions persisted in SQLite
        // (and, with --datastore, in PostgreSQL).
        .executableTarget(
            name: "placement-bench", dependencies: ["AegisScheduler", "AegisProtocol", "AegisStore", "AegisStorePostgres"],
            path: "Benchmarks/placement-bench", exclude: ["README.md"]),
        // Lease renewals through the controller's real TLS listener and node protocol; detection lateness.
        .executableTarget(
            name: "lease-bench",
            dependencies: [
                "AegisProtocol", "AegisStore", "AegisSystem",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/lease-bench"),
        // Submissions accepted and placed per second through the HTTP API, in-process controller, 5,000 nodes.
        .executableTarget(
            name: "submit-bench",
            dependencies: [
                "AegisAPI", "AegisControl", "AegisStore", "AegisProtocol", "AegisMetrics", "AegisDaemon",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/submit-bench"),
        // The workflow engine: step hand-off, a 1,000-item fan-out vs direct submissions, resume with
        // 10,000 finished steps on record (in-process controller, SQLite, fake workers).
        .executableTarget(
            name: "workflow-bench",
            dependencies: ["AegisControl", "AegisWorkflow", "AegisStore", "AegisProtocol", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/workflow-bench"),
        // One scrape of the controller's /metrics with 5,000 nodes and 50,000 workloads in its SQLite store.
        .executableTarget(
            name: "scrape-bench",
            dependencies: [
                "AegisAPI", "AegisControl", "AegisStore", "AegisProtocol", "AegisMetrics", "AegisDaemon",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/scrape-bench"),
        // In-process spawn benchmark (the worker daemon's path).
        .executableTarget(
            name: "aegis-bench", dependencies: ["AegisSandbox", "AegisOCI", "AegisSeccomp", "AegisNet", "AegisSystem"],
            path: "Benchmarks/aegis-bench"),

        .testTarget(name: "AegisOCITests", dependencies: ["AegisOCI", "AegisProtocol"]),
        .testTarget(name: "AegisManifestTests", dependencies: ["AegisManifest", "AegisProtocol"]),
        .testTarget(name: "AegisWorkflowTests", dependencies: ["AegisWorkflow", "AegisManifest", "AegisProtocol"]),
        .testTarget(name: "AegisSchedulerTests", dependencies: ["AegisScheduler", "AegisProtocol"]),
        .testTarget(name: "AegisClientTests", dependencies: ["AegisClient", "AegisManifest", "AegisProtocol", "AegisSystem", "Yams"]),
        .testTarget(name: "AegisProtocolTests", dependencies: ["AegisProtocol"]),
        // The store conformance suite: SQLite by default, PostgreSQL (a throwaway cluster the tests
        // start themselves) with AEGIS_STORE_BACKEND=postgres.
        .testTarget(
            name: "AegisStoreTests",
            dependencies: [
                "AegisStore", "AegisStorePostgres", "AegisProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "AegisPodTests", dependencies: ["AegisPod", "AegisManifest", "AegisProtocol", "AegisSystem"]),
        .testTarget(
            name: "AegisControlTests",
            dependencies: [
                "AegisControl", "AegisStore", "AegisProtocol", "AegisPKI", "AegisMetrics", "AegisAPI", "AegisWorkflow",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "AegisDaemonTests",
            dependencies: [
                "AegisDaemon", "AegisClient", "AegisControl", "AegisNet", "AegisProtocol", "AegisStorePostgres",
                "AegisScheduler", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "AegisNodeTests", dependencies: ["AegisNode", "AegisProtocol", "AegisSandbox", "AegisOCI", "AegisSystem"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "AegisCgroupTests", dependencies: ["AegisCgroup", "AegisSystem"]),
        .testTarget(name: "AegisNetTests", dependencies: ["AegisNet", "AegisProtocol"]),
        .testTarget(name: "AegisPKITests", dependencies: ["AegisPKI", "AegisProtocol"]),
        // The gateway against a fake controller on a unix socket: real TLS, real sockets.
        .testTarget(
            name: "AegisGatewayTests",
            dependencies: [
                "AegisGateway", "AegisPKI", "AegisProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The relay: tickets, and real sockets with real mutual TLS end to end through dialer and relay.
        .testTarget(
            name: "AegisRelayTests",
            dependencies: [
                "AegisRelay", "AegisPKI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The metrics sidecar against a real controller's series on a unix socket and a real gateway's
        // admin socket; promtool and a real Prometheus (Debian's `prometheus`) scraping it.
        .testTarget(
            name: "AegisMetricsTests",
            dependencies: [
                "AegisMetrics", "AegisGateway", "AegisControl", "AegisStore", "AegisPKI", "AegisProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "AegisSeccompTests", dependencies: ["AegisSeccomp", "AegisOCI", "CAegisShim"]),
        .testTarget(name: "AegisSandboxTests", dependencies: ["AegisSandbox", "AegisOCI", "CAegisShim", "AegisSystem"]),
        .testTarget(name: "AegisSystemTests", dependencies: ["AegisSystem"]),
        // Image pulls from a real registry (Debian's docker-registry) and hostile layers.
        .testTarget(name: "AegisImageTests", dependencies: ["AegisImage", "AegisSystem", "CArchive"], exclude: ["Fixtures"]),
        .testTarget(name: "RuntimeTests", dependencies: ["AegisOCI"]),
        // A real `aegis up` node driven through the CLI and over HTTP.
        .testTarget(name: "NodeE2ETests", dependencies: ["AegisProtocol", "AegisNet", "AegisSystem", "AegisDaemon"]),
        // Boots Debian's kernel under qemu (Tests/VM/vm-run) to prove cgroup v2 limits.
        .testTarget(name: "VMTests", dependencies: ["AegisSandbox", "AegisOCI"]),
    ]
)
