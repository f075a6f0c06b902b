// Workflow.swift — a validated workflow: what `WorkflowParser` returns and the planner reads.

import AegisProtocol

/// Limits of workflows (counts and bytes).
public enum WorkflowLimits {
    /// Steps in `steps` plus `onExit`.
    public static let maxSteps = 1000
    /// Instances one fan-out may expand to; a longer list fails the step.
    public static let maxFanOutItems = 10_000
    /// Bytes of an output read for a template or `withOutput` (the engine reads at most this much;
    /// a larger file is reported as unavailable).
    public static let maxReadOutputBytes = 1 << 20
    /// Parallelism bounds (workflow and step).
    public static let parallelismRange = 1...10_000
    /// Retry limit bounds (retries after the first attempt).
    public static let retryLimitRange = 0...100
}

/// A workflow read from its manifest, with parameter values fixed (defaults and `-p` overrides).
public struct Workflow: Equatable, Sendable {
    public var name: String
    /// Parameters in manifest order, each with its effective value.
    public var parameters: [Parameter]
    /// Whole-workflow deadline from its start, seconds; nil = none.
    public var timeoutSeconds: Int?
    /// Most agent instances running at once across the workflow; nil = unbounded.
    public var parallelism: Int?
    public var steps: [Step]
    /// Steps run once `steps` are all done (succeeded, failed or cancelled); a DAG of their own.
    public var onExit: [Step]

    public struct Parameter: Equatable, Sendable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(
        name: String, parameters: [Parameter] = [], timeoutSeconds: Int? = nil, parallelism: Int? = nil, steps: [Step], onExit: [Step] = []
    ) {
        self.name = name
        self.parameters = parameters
        self.timeoutSeconds = timeoutSeconds
        self.parallelism = parallelism
        self.steps = steps
        self.onExit = onExit
    }

    /// Every step, `steps` first, then `onExit`.
    public var allSteps: [Step] { steps + onExit }

    public func step(_ name: String) -> Step? { allSteps.first { $0.name == name } }

    public func parameter(_ name: String) -> String? { parameters.first { $0.name == name }?.value }

    /// The output files of `step` the engine must read into results (templates and `withOutput`
    /// name them), sorted. Files only passed on by `inputs[].from` are copied, not read.
    public func outputsToRead(of step: String) -> [String] {
        var files = Set<String>()
        for s in allSteps {
            if case .output(let ref) = s.fanOut, ref.step == step { files.insert(ref.path) }
            for r in s.templateRefs { if case .output(step, let f) = r { files.insert(f) } }
        }
        return files.sorted()
    }
}

/// One step of a workflow.
public struct Step: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// Runs an agent. The spec is as an agent manifest's, named after the step; its `args`, `env`
        /// values and inline script (the input at `scriptPath`) may hold templates.
        case agent(WorkloadSpec, scriptPath: String?)
        /// Waits for `aegis workflow approve` or `reject`.
        case approval
    }

    public var name: String
    public var kind: Kind
    /// Steps that must be done first (succeeded, or skipped for a reason other than a failure).
    public var dependencies: [String]
    public var fanOut: FanOut?
    /// Most instances of this fan-out running at once; nil = bounded by the workflow's only.
    public var parallelism: Int?
    /// Output files of earlier steps copied in as input files.
    public var inputs: [InputFrom]
    /// Files of the agent's output directory later steps may read (`from`, `withOutput`, templates).
    public var outputs: [String]
    public var when: Condition?
    public var retry: RetryPolicy?
    /// Deadline from the first attempt's start (an approval: from when it started waiting), seconds.
    public var timeoutSeconds: Int?
    /// True for the steps of `onExit`.
    public var isExitHandler: Bool

    public init(
        name: String, kind: Kind, dependencies: [String] = [], fanOut: FanOut? = nil, parallelism: Int? = nil,
        inputs: [InputFrom] = [], outputs: [String] = [], when: Condition? = nil, retry: RetryPolicy? = nil,
        timeoutSeconds: Int? = nil, isExitHandler: Bool = false
    ) {
        self.name = name
        self.kind = kind
        self.dependencies = dependencies
        self.fanOut = fanOut
        self.parallelism = parallelism
        self.inputs = inputs
        self.outputs = outputs
        self.when = when
        self.retry = retry
        self.timeoutSeconds = timeoutSeconds
        self.isExitHandler = isExitHandler
    }

    /// The references of the step's templates and condition.
    public var templateRefs: [TemplateRef] {
        var refs = when?.refs ?? []
        if case .agent(let spec, let scriptPath) = kind {
            for text in Self.templatedTexts(spec, scriptPath: scriptPath) {
                if let t = try? Template.parse(text) { refs += t.refs }
            }
        }
        return refs
    }

    static func templatedTexts(_ spec: WorkloadSpec, scriptPath: String?) -> [String] {
        var texts = spec.args + spec.env.keys.sorted().map { spec.env[$0]! }
        if let scriptPath, let bytes = spec.inputs[scriptPath] { texts.append(String(decoding: bytes, as: UTF8.self)) }
        return texts.filter(Template.mayContainReferences)
    }
}

/// A step's output file, named by `from:` or `withOutput:`.
public struct OutputRef: Equatable, Sendable {
    public var step: String
    /// Relative to the producing step's output directory.
    public var path: String

    public init(step: String, path: String) {
        self.step = step
        self.path = path
    }
}

/// An input file copied from an earlier step's output.
public struct InputFrom: Equatable, Sendable {
    public var from: OutputRef
    /// Where it goes, relative to the agent's working directory.
    public var path: String

    public init(from: OutputRef, path: String) {
        self.from = from
        self.path = path
    }
}

/// How a step fans out into instances, one per item.
public enum FanOut: Equatable, Sendable {
    /// `withItems: [a, b, c]` (or a parameter holding a JSON list, resolved at load).
    case items([String])
    /// `withOutput: {step, path}`: the items of an earlier step's output (`FanOutItems.parse`).
    case output(OutputRef)
}

/// `retry: {limit, backoff: {duration, factor, max}, on: [...]}`.
public struct RetryPolicy: Equatable, Sendable {
    /// Retries after the first attempt (so at most `limit + 1` attempts).
    public var limit: Int
    /// Wait before retry n (1-based): `durationSeconds · factor^(n-1)`, at most `maxSeconds`;
    /// 0 retries at once.
    public var backoff: Backoff
    /// Which failed attempts are retried.
    public var on: Set<RetryOn>

    public struct Backoff: Equatable, Sendable {
        public var durationSeconds: Int
        public var factor: Double
        public var maxSeconds: Int?

        public init(durationSeconds: Int, factor: Double, maxSeconds: Int?) {
            self.durationSeconds = durationSeconds
            self.factor = factor
            self.maxSeconds = maxSeconds
        }

        public static let none = Backoff(durationSeconds: 0, factor: 1, maxSeconds: nil)

        /// Milliseconds to wait before retry `n` (1-based), at most `maxSeconds` (else 1 day).
        public func delayMilliseconds(retry n: Int) -> Int64 {
            let cap = Double(maxSeconds ?? 86_400) * 1000
            let raw = Double(durationSeconds) * 1000 * wholePower(factor, Double(max(n - 1, 0)))
            return Int64(min(raw, cap))
        }
    }

    public init(limit: Int, backoff: Backoff = .none, on: Set<RetryOn> = Set(RetryOn.allCases)) {
        self.limit = limit
        self.backoff = backoff
        self.on = on
    }
}

/// Kinds of failed attempts (`retry.on`).
public enum RetryOn: String, CaseIterable, Sendable, Codable {
    /// A non-zero exit, or the agent's own `timeout`.
    case failure
    /// The agent could not be started or run (image pull, sandbox, refused placement).
    case error
    /// Killed by the out-of-memory killer.
    case oom
    /// Its node was lost (lease expired) before it finished.
    case lost
}

/// x^y for a whole y ≥ 0, by squaring (saturating early: delays are capped anyway).
func wholePower(_ x: Double, _ y: Double) -> Double {
    var result = 1.0, base = x, e = Int(y)
    while e > 0 {
        if e & 1 == 1 { result *= base }
        base *= base
        e >>= 1
        if result > 1e18 { return result }
    }
    return result
}
