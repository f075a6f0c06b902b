// ManifestFormat.swift — the manifest format tenants write, as the documentation of ManifestParser.

/// Reads agent manifests (YAML or JSON) into validated `WorkloadSpec`s.
///
/// ## The manifest format
///
/// A manifest describes one agent (workload): what to run, with which resources, on which kind of
/// node. Write it in YAML (`agent.yaml`) or JSON (`agent.json`); the CLI uploads it
/// together with the files it names. `ManifestParser.parse` turns it into a validated `WorkloadSpec`.
///
/// ```yaml
/// tenant: acme                 # optional; must match the tenant you are authenticated as
/// name: summarize              # required: 1-63 of [a-z0-9-], starting with a letter or digit
/// runtime: python3             # python3, node, deno, bun, ruby, java, go, … or "command"
/// file: agent.py               # the program: an uploaded file run by the runtime, OR
/// # script: |                  #   an inline script run by the runtime (written as main.<ext>), OR
/// #   print("hi")
/// # command: [python3, -u]     #   the argv: the full argv for runtime "command", else it
///                              #   replaces the interpreter (see "How args are built")
/// args: [input.txt]            # appended to the argv
/// env: {MODEL: small, DEBUG: "1"}
/// resources:
///   cpu: 500m                  # millicores (500m), or cores: 0.5, "0.5", 2
///   memory: 256Mi              # bytes: 268435456, or 256Mi, 1Gi, 1.5Gi, 64Ki, 512M, 1G, 128k (min 1 MiB)
///   pids: 128                  # max processes and threads (1-4194304)
///   gpus: 1                    # whole GPUs, assigned exclusively
/// requires:                    # what the node must offer
///   runtimes: [{name: python3, version: ">=3.10"}]   # or the short form ["python3>=3.10"]
///   gpu: {vendor: nvidia, model: A100, count: 1}    # count defaults to 1
///   labels: {zone: lab-2}
///   reach: [corp-vpn]          # reachability labels the node must advertise (network egress only)
/// network: none                # none (own loopback only; default) | loopback (same) | host (admins only)
///                              # | egress (own namespace routed out through the node: public
///                              #   destinations, plus egress.allow)
/// egress:                      # network egress only
///   allow: ["10.20.0.0/16:443/tcp", "api.example.com:443"]   # DEST[:PORT[-PORT]][/tcp|/udp]
/// files:
///   inputs: [input.txt, data/]  # files (or directories) the CLI uploads, relative to the manifest
///   output: output             # directory kept after the agent ends (default "output")
/// timeout: 5m                  # seconds (300) or units d h m s in that order: 90s, 5m, 1h30m, 1d
/// restart: never               # never (default) | on-failure | always
/// restartBackoff: {initial: 10s, max: 5m}   # wait before each restart: initial, doubling up to max
///                               #   (defaults 10s and 5m; each 1s to 1h, max >= initial); reset
///                               #   after the agent ran 10 min
/// ```
///
/// The same in JSON: `{"name": "summarize", "runtime": "python3", "file": "agent.py", "args": ["input.txt"]}`.
/// A JSON document is read as YAML flow style, so its errors carry lines and columns too.
///
/// ### How args are built
///
/// | manifest | argv |
/// |---|---|
/// | `runtime: command`, `command: [c…]` | `c… args…` |
/// | `runtime: R`, `script: …` | `interp(R) main.<ext> args…` (the script becomes input `main.<ext>`) |
/// | `runtime: R`, `file: F` | `interp(R) F args…` |
/// | `runtime: R`, `command: [c…]` with script / file | `c… main.<ext>` / `c… F`, then `args…` |
/// | `runtime: R`, `command: [c…]` alone | `c… args…` (R only steers placement) |
///
/// `interp`: python3 → `python3`, node → `node`, deno → `deno run`, bun → `bun run`, ruby → `ruby`,
/// java → `java` (single-file source launch, JDK 11+), go → `go run`; any other name → that name.
/// Script extensions: python3 `.py`, node `.js`, deno and bun `.ts`, ruby `.rb`, java `.java`,
/// go `.go`, perl `.pl`, php `.php`, bash/sh `.sh`, lua `.lua`, others `.<runtime>`.
///
/// Without `runtime`: a `file` with a known extension picks it (.py python3, .js/.mjs/.cjs node,
/// .ts deno, .rb ruby, .java java, .go go, .pl perl, .php php, .sh bash, .lua lua); a bare
/// `command` means runtime `command`; a `script` needs an explicit runtime.
///
/// ### Rules
///
/// - Unknown fields are errors, with a suggestion: `resoures: unknown field (did you mean resources?)`.
/// - `file` and every `files.inputs` entry must have been uploaded; every upload must be named by one
///   of them (an entry naming a directory takes all uploads below it). Paths are relative to the
///   working directory: no leading `/`, no `..`. All inputs (plus an inline script) total at most
///   16 MiB by default; the manifest itself at most 1 MiB.
/// - `resources.gpus` and `requires.gpu.count` must agree when both are given; `requires.gpu` alone
///   sets `resources.gpus` to its count.
/// - Version constraints: `>=3.10`, `<4`, `==3.11.2`, `!=3.12`, `^20` (same major), `~3.11` (same
///   minor), `3.11.*`; combine with commas: `>=3.9,<4`.
/// - Environment names are `[A-Za-z_][A-Za-z0-9_]*`; values are strings (YAML numbers and booleans
///   keep their text: `DEBUG: yes` is `"yes"`). Each argument or `KEY=value` must be under 128 KiB
///   (Linux MAX_ARG_STRLEN) and all of them together at most 1 MiB.
/// - Lowercase `m`/`g` memory suffixes are refused as ambiguous (`m` is milli in Kubernetes, MiB in
///   Docker): write `256Mi` or `256M`.
/// - Mapping keys are plain names; lists, mappings and aliases as keys are refused.
/// - `network: egress` gives the agent its own network namespace with a route out through the node
///   (only nodes that advertise egress take it, and each holds one address of the node's egress
///   subnet). It reaches public destinations only; `egress.allow` entries open more:
///   `DEST[:PORT[-PORT]][/tcp|/udp]`, DEST an IPv4 address, a CIDR with zero host bits or a host name
///   (resolved when the agent starts). Loopback, link-local (cloud metadata), multicast and reserved
///   ranges can never be allowed. At most 256 entries. `egress` and `requires.reach` (1-16 labels of
///   `[a-z0-9.-]`) are errors with any other network mode.
///
/// Errors name the file, line, column and field: `agent.yaml:12:11: resources.memory: "12x" is not a
/// memory quantity (use bytes like 268435456, or a suffix: 256Mi, 1Gi, 512M, 1G, 64Ki)`.
///
/// ### `aegis run`
///
/// `aegis run --runtime python3 --memory 256Mi --cpus 0.5 --gpus 1 --env K=V --name N --restart
/// on-failure --timeout 5m --network egress --allow api.example.com:443 --reach internet -- agent.py
/// input.txt` builds the same spec (`CLIRunOptions`): with
/// `--runtime`, an uploaded program is run by the runtime's interpreter; without it the command runs
/// as given. The name defaults to the program's file name (`agent.py` → `agent-py`).
public enum ManifestParser {
    static let topLevelFields = [
        "tenant", "name", "runtime", "command", "args", "script", "file", "env",
        "resources", "requires", "network", "egress", "files", "timeout", "restart",
        "restartBackoff", "image", "imagePullPolicy", "rootfs", "workingDir", "user",
    ]
}
