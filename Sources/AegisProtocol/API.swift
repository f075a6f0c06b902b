// API.swift — the tenant-facing HTTP API's request and response bodies (JSON), version 1.
// Routes (all under /v1; authenticated with `Authorization: Bearer <token>` except the two join
// routes at the end; an admin token may act for a tenant with `X-Aegis-Tenant: NAME`); the OpenAPI
// document is docs/openapi.yaml:
//
//   POST   /v1/workloads                       SubmitRequest → Workload (201)
//   GET    /v1/workloads[?state=running]       → WorkloadList
//   GET    /v1/workloads/{id}                  → WorkloadDetail
//   POST   /v1/workloads/{id}/cancel           → Workload
//   GET    /v1/workloads/{id}/logs[?follow=true]   text/event-stream (LogEvent per event)
//   GET    /v1/workloads/{id}/files/{path}     output file bytes (application/octet-stream)
//   GET    /v1/nodes                           → NodeList            (admin)
//   GET    /v1/nodes/{name}                    → NodeInfo            (admin)
//   POST   /v1/nodes/{name}/cordon             → NodeInfo            (admin)
//   POST   /v1/nodes/{name}/uncordon           → NodeInfo            (admin)
//   POST   /v1/nodes/{name}/drain              DrainRequest → DrainResponse (admin)
//   POST   /v1/tenants                         CreateTenantRequest → CreateTenantResponse (admin)
//   GET    /v1/tenants                         → TenantList          (admin)
//   GET    /v1/whoami                          → WhoAmI
//   POST   /v1/tokens                          CreateJoinTokenRequest → CreateJoinTokenResponse (admin)
//   GET    /v1/tokens                          → JoinTokenList       (admin)
//   DELETE /v1/tokens/{id}                     → JoinTokenInfo       (admin)
//   GET    /v1/cluster/identities              → NodeIdentityList    (admin)
//   DELETE /v1/cluster/identities/{name}       204                   (admin)
//   GET    /metrics                            Prometheus text (admin)
//   /v1/workflows…                             the workflow API (Workflows.swift)
//
// Not authenticated with a bearer token (see Join.swift):
//   GET    /v1/cluster/ca                      → ClusterCAInfo
//   POST   /v1/cluster/join                    JoinRequest → JoinResponse (the join token is in the body)
//
// Errors: non-2xx with ErrorBody. Another tenant's workload is 404, never 403.

/// API version carried in paths ("/v1") and in `X-Aegis-API`.
public let aegisAPIVersion = "v1"

/// How a workload is submitted: a manifest text (YAML or JSON) or the `aegis run --runtime …`
/// flags, plus the uploaded input files (base64).
public struct SubmitRequest: Codable, Sendable, Equatable {
    /// Manifest text (YAML or JSON).
    public var manifest: String?
    /// File name of the manifest, for error messages ("agent.yaml:12:3: …").
    public var manifestFile: String?
    /// `aegis run` flags when no manifest is given.
    public var run: RunFlags?
    /// Input files: relative path → base64 content.
    public var inputs: [String: String]

    public init(manifest: String? = nil, manifestFile: String? = nil, run: RunFlags? = nil, inputs: [String: String] = [:]) {
        self.manifest = manifest
        self.manifestFile = manifestFile
        self.run = run
        self.inputs = inputs
    }

    /// As synthesized, except that `inputs` may be left out (no files).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        manifest = try c.decodeIfPresent(String.self, forKey: .manifest)
        manifestFile = try c.decodeIfPresent(String.self, forKey: .manifestFile)
        run = try c.decodeIfPresent(RunFlags.self, forKey: .run)
        inputs = try c.decodeIfPresent([String: String].self, forKey: .inputs) ?? [:]
    }
}

/// `aegis run [--runtime R] [--cpus 0.5] [--memory 256M] [--gpus N] [--env K=V]… [--name N]
/// [--restart P] [--timeout D] [--network MODE] [--allow ENTRY]… [--reach LABEL]… -- COMMAND ARGS…`
public struct RunFlags: Codable, Sendable, Equatable {
    public var runtime: String?
    public var cpus: String?
    public var memory: String?
    public var gpus: Int?
    public var env: [String]
    public var name: String?
    public var restart: String?
    public var timeout: String?
    public var network: String?
    /// `--allow`: egress allowlist entries (see `EgressAllowEntry`); network egress only.
    public var allow: [String]?
    /// `--reach`: reachability labels the node must advertise; network egress only.
    public var reach: [String]?
    public var command: [String]
    /// `--image`, `--image-pull-policy`, `--rootfs` (see `ImageSpec`).
    public var image: String?
    public var imagePullPolicy: String?
    public var rootfs: String?

    public init(
        runtime: String? = nil, cpus: String? = nil, memory: String? = nil, gpus: Int? = nil, env: [String] = [],
        name: String? = nil, restart: String? = nil, timeout: String? = nil, network: String? = nil,
        allow: [String]? = nil, reach: [String]? = nil, command: [String], image: String? = nil,
        imagePullPolicy: String? = nil, rootfs: String? = nil
    ) {
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.rootfs = rootfs
        self.runtime = runtime
        self.cpus = cpus
        self.memory = memory
        self.gpus = gpus
        self.env = env
        self.name = name
        self.restart = restart
        self.timeout = timeout
        self.network = network
        self.allow = allow
        self.reach = reach
        self.command = command
    }

    /// As synthesized, except that `env` may be left out (no variables).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runtime = try c.decodeIfPresent(String.self, forKey: .runtime)
        cpus = try c.decodeIfPresent(String.self, forKey: .cpus)
        memory = try c.decodeIfPresent(String.self, forKey: .memory)
        gpus = try c.decodeIfPresent(Int.self, forKey: .gpus)
        env = try c.decodeIfPresent([String].self, forKey: .env) ?? []
        name = try c.decodeIfPresent(String.self, forKey: .name)
        restart = try c.decodeIfPresent(String.self, forKey: .restart)
        timeout = try c.decodeIfPresent(String.self, forKey: .timeout)
        network = try c.decodeIfPresent(String.self, forKey: .network)
        allow = try c.decodeIfPresent([String].self, forKey: .allow)
        reach = try c.decodeIfPresent([String].self, forKey: .reach)
        command = try c.decode([String].self, forKey: .command)
        image = try c.decodeIfPresent(String.self, forKey: .image)
        imagePullPolicy = try c.decodeIfPresent(String.self, forKey: .imagePullPolicy)
        rootfs = try c.decodeIfPresent(String.self, forKey: .rootfs)
    }
}

public struct WorkloadList: Codable, Sendable, Equatable {
    public var items: [Workload]
    public init(items: [Workload]) { self.items = items }
}

/// One entry of a workload's event log ("scheduled on n1", "started", "exited with 0").
public struct WorkloadEvent: Codable, Sendable, Equatable {
    /// Unix milliseconds.
    public var timeMs: Int64
    public var type: WorkloadEventType
    public var message: String
    public init(timeMs: Int64, type: WorkloadEventType, message: String) {
        self.timeMs = timeMs
        self.type = type
        self.message = message
    }
}

public struct WorkloadDetail: Codable, Sendable, Equatable {
    public var workload: Workload
    public var events: [WorkloadEvent]
    /// Output files kept after the end (relative paths under the output directory).
    public var outputs: [String]
    public init(workload: Workload, events: [WorkloadEvent], outputs: [String]) {
        self.workload = workload
        self.events = events
        self.outputs = outputs
    }
}

/// One Server-Sent Event of the logs stream. `event:` is the stream ("stdout", "stderr") or
/// "exit" (data: the final Workload JSON); `data:` carries the text (one `data:` line per line).
public enum LogStream: String, Codable, Sendable {
    case stdout, stderr, exit
}

/// The SSE event that ends a log stream early: its data says why ("node is shutting down").
public enum LogStreamError {
    public static let event = "error"
    /// The node stopped (`aegis down`, SIGTERM) while the stream was open.
    public static let nodeShuttingDown = "node is shutting down"
}

public struct NodeList: Codable, Sendable, Equatable {
    public var items: [NodeInfo]
    public init(items: [NodeInfo]) { self.items = items }
}

/// `POST /v1/nodes/{name}/drain`: how long to wait for the node's agents to stop.
public struct DrainRequest: Codable, Sendable, Equatable {
    /// Seconds to wait until no agent of the node is active (default 300, at most 86 400).
    public var timeoutSeconds: Int?
    public init(timeoutSeconds: Int? = nil) { self.timeoutSeconds = timeoutSeconds }
}

/// One agent a drain moved off the node or stopped.
public struct DrainedAgent: Codable, Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var name: String
    /// "requeued" (pending again: restart policy on-failure or always), "cancelled" (restart policy
    /// never), "active" (still stopping when the drain timed out), or the final state the agent
    /// reached on its own while stopping ("succeeded", "failed", "lost").
    public var outcome: String
    /// The workload's state and reason when the drain returned.
    public var state: WorkloadState
    public var reason: String?
    public init(id: String, tenant: String, name: String, outcome: String, state: WorkloadState, reason: String?) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.outcome = outcome
        self.state = state
        self.reason = reason
    }
}

/// The result of a drain: the node (now cordoned) and what happened to each agent that was active
/// on it. `complete` is false when the timeout passed with agents still active (`outcome` "active").
public struct DrainResponse: Codable, Sendable, Equatable {
    public var node: NodeInfo
    public var items: [DrainedAgent]
    public var complete: Bool
    /// Milliseconds the drain waited.
    public var waitedMs: Int64
    public init(node: NodeInfo, items: [DrainedAgent], complete: Bool, waitedMs: Int64) {
        self.node = node
        self.items = items
        self.complete = complete
        self.waitedMs = waitedMs
    }
}

public struct CreateTenantRequest: Codable, Sendable, Equatable {
    public var name: String
    public var quota: Quota?
    public init(name: String, quota: Quota? = nil) {
        self.name = name
        self.quota = quota
    }
}

public struct CreateTenantResponse: Codable, Sendable, Equatable {
    public var tenant: Tenant
    /// The tenant's API token, shown once (only its hash is stored).
    public var token: String
    public init(tenant: Tenant, token: String) {
        self.tenant = tenant
        self.token = token
    }
}

public struct TenantList: Codable, Sendable, Equatable {
    public var items: [Tenant]
    public init(items: [Tenant]) { self.items = items }
}

public struct WhoAmI: Codable, Sendable, Equatable {
    /// "admin" or "tenant".
    public var kind: String
    /// The tenant acted for (the admin's default is "default").
    public var tenant: String
    public init(kind: String, tenant: String) {
        self.kind = kind
        self.tenant = tenant
    }
}

public struct ErrorBody: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    public var error: String
    /// Field path for validation errors ("resources.memory").
    public var field: String?
    public init(error: String, field: String? = nil) {
        self.error = error
        self.field = field
    }
    public var description: String { error }
}
