// PodManifestParser.swift — a Kubernetes `v1` Pod (YAML, or JSON read as YAML) → validated
// `PodManifest`, strictly: every field is either honoured or refused with an error that names it.

import AegisManifest
import AegisProtocol
import Yams

/// Reads the Pod manifests of `aegis pod run`.
///
/// Field names, types and defaults are Kubernetes' core/v1 ones (see PodSpec.swift for what each
/// model field means). Rules beyond the OpenAPI schema follow the API server's validation
/// (pkg/apis/core/validation) unless said otherwise:
/// - one document per file; `apiVersion: v1`, `kind: Pod`; `metadata.name` a DNS-1123 label;
/// - a field Kubernetes has but aegis does not honour is "not supported by aegis pod run", any other
///   unknown key "unknown field" — never ignored; `status` is refused too;
/// - defaults applied: namespace "default", `restartPolicy` Always, `terminationGracePeriodSeconds`
///   30, `imagePullPolicy` per `ImagePullPolicy.defaultPolicy(for:)`, port `protocol` TCP and, with
///   `hostNetwork: true`, `hostPort` = `containerPort`, resource requests = limits where only the
///   limit is given, probe timings (0, 10, 1, 1, 3 s/counts), `httpGet` scheme HTTP and path "/",
///   `seccompProfile` RuntimeDefault, `allowPrivilegeEscalation` false (true when `privileged`);
/// - stricter than Kubernetes (documented where checked): probe `periodSeconds`/`timeoutSeconds`
///   0 is an error (Kubernetes reads 0 as "default"), a `containerPort`+`protocol` declared twice in
///   the pod is an error (Kubernetes warns), `workingDir` and `httpGet.path` must be absolute,
///   `runAsNonRoot: true` with `runAsUser: 0` is an error at parse time (the kubelet refuses to start
///   such a container), `capabilities.drop` takes only `[ALL]` (aegis containers start with none);
/// - as Kubernetes: a duplicated `env` name keeps the last value (at the first one's position).
public enum PodManifestParser {
    /// The largest manifest read, in UTF-8 bytes (1 MiB, `ManifestLimits.defaultMaxManifestBytes`).
    public static let maxManifestBytes = ManifestLimits.defaultMaxManifestBytes

    /// Parses and validates one Pod manifest.
    ///
    /// - Parameters:
    ///   - text: one YAML document (JSON works: it is read as YAML flow style), at most
    ///     `maxManifestBytes` bytes.
    ///   - file: the manifest's name for error messages ("pod/aegis-controller.yaml").
    /// - Throws: `ManifestError` (from AegisManifest) with `file`, the field `path`
    ///   (`spec.containers[1].livenessProbe.httpGet.port`), and the 1-based line and column of the
    ///   offending value (of the key, for a refused or unknown field); YAML syntax errors carry
    ///   libyaml's position and an empty path.
    public static func parse(_ text: String, file: String) throws -> PodManifest {
        do {
            guard text.utf8.count <= maxManifestBytes else {
                throw ManifestError(path: "", message: "manifest is \(text.utf8.count) bytes, over the limit of \(maxManifestBytes)")
            }
            return try readPod(try compose(text))
        } catch var e as ManifestError {
            e.file = file
            throw e
        }
    }

    /// The document's node tree; YAML errors (a second document among them) at libyaml's mark.
    static func compose(_ text: String) throws -> Field {
        try KeyScan.check(text)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw convert(e)
        }
        guard let node else { throw ManifestError(path: "", line: 1, column: 1, message: "manifest is empty") }
        return Field(node, path: "")
    }

    static func convert(_ e: YamlError) -> ManifestError {
        switch e {
        case let .composer(context, _, mark, _) where context?.text == "expected a single document in the stream":
            return ManifestError(
                path: "", line: mark.line, column: mark.column,
                message: "a second YAML document: aegis pod run reads one Pod per file")
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            var message = "invalid YAML: \(problem)"
            if let context, !context.text.isEmpty { message += " (\(context.text) at line \(context.mark.line))" }
            return ManifestError(path: "", line: mark.line, column: mark.column, message: message)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ManifestError(path: "", line: context.mark.line, column: context.mark.column, message: "duplicate key \(keys)")
        case let .reader(problem, offset, _, _):
            return ManifestError(path: "", message: "invalid text: \(problem)" + (offset.map { " at byte \($0)" } ?? ""))
        default:
            return ManifestError(path: "", message: "invalid YAML: \(e)")
        }
    }

    // MARK: - The document

    static func readPod(_ root: Field) throws -> PodManifest {
        let f = try root.object(.pod)
        let apiVersion = try f.required("apiVersion", hint: " (apiVersion: v1)")
        guard try apiVersion.string("an API version") == "v1" else {
            throw apiVersion.error(
                "\(Quantity.quoted(try apiVersion.string())) is not supported: aegis pod run reads a core v1 Pod (apiVersion: v1)")
        }
        let kind = try f.required("kind", hint: " (kind: Pod)")
        guard try kind.string("a kind") == "Pod" else {
            throw kind.error("\(Quantity.quoted(try kind.string())) is not supported: aegis pod run reads kind: Pod")
        }
        let metadata = try readMetadata(try f.required("metadata", hint: " (metadata: {name: …})"))
        let spec = try readSpec(try f.required("spec", hint: " (spec: {containers: […]})"))
        return PodManifest(metadata: metadata, spec: spec)
    }

    static func readMetadata(_ field: Field) throws -> PodMetadata {
        let f = try field.object(.metadata)
        let nameField = try f.required("name", hint: " (a DNS-1123 label like aegis-controller)")
        let name = try nameField.string("a pod name")
        try PodSyntax.checkLabel(name, at: nameField, what: "pod name")
        var namespace = "default"
        if let n = f["namespace"] {
            namespace = try n.string("a namespace")
            try PodSyntax.checkLabel(namespace, at: n, what: "namespace")
        }
        let labels = try f["labels"].map { try readStringMap($0, labels: true) } ?? [:]
        let annotations = try f["annotations"].map { try readStringMap($0, labels: false) } ?? [:]
        return PodMetadata(name: name, namespace: namespace, labels: labels, annotations: annotations)
    }

    /// `labels` or `annotations`: keys are qualified names; label values are label values
    /// (IsValidLabelValue), annotation values any string (together at most 256 KiB, as Kubernetes).
    static func readStringMap(_ field: Field, labels: Bool) throws -> [String: String] {
        var out: [String: String] = [:]
        var total = 0
        for (key, keyField, value, valueField) in try field.stringMap() {
            guard PodSyntax.isQualifiedName(key) else {
                throw keyField.error(
                    "\(Quantity.quoted(key)) is not a valid \(labels ? "label" : "annotation") key: [prefix/]name, the name "
                        + "at most 63 of letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
            }
            if labels && !PodSyntax.isLabelValue(value) {
                throw valueField.error(
                    "\(Quantity.quoted(value)) is not a valid label value: at most 63 of letters, digits, '-', '_' and '.', "
                        + "starting and ending with a letter or digit")
            }
            total += key.utf8.count + value.utf8.count
            out[key] = value
        }
        guard labels || total <= 256 << 10 else { throw field.error("annotations total \(total) bytes, over Kubernetes' 256 KiB") }
        return out
    }
}
