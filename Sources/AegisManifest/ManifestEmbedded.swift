// ManifestEmbedded.swift — an agent spec inside another document: a workflow step's `agent:`
// mapping, read by the same rules as a manifest, with every error path below the embedding field.

import AegisProtocol

extension ManifestParser {
    /// The fields of an embedded agent spec: a manifest's, less those the embedding document owns
    /// (the name, the tenant, and restarts — a workflow step retries by its own `retry:`).
    static let embeddedFields = topLevelFields.filter { !["tenant", "name", "restart", "restartBackoff"].contains($0) }

    /// Parses an agent spec embedded in a larger document (a workflow step's `agent:`).
    ///
    /// - Parameters:
    ///   - field: the spec's mapping, with its path in the document (`"steps[1].agent"`); every
    ///     error names a field below it (`"steps[1].agent.resources.memory"`) and its line.
    ///   - name: the workload name to give the spec (the step's name).
    ///   - inputs, defaultTenant, maxInputBytes: as for `parse`; the uploads are this spec's alone.
    /// - Returns: the spec, built exactly as `parse` builds a manifest's.
    /// - Throws: `ManifestError` without `file` (the caller sets it); `tenant`, `name`, `restart`
    ///   and `restartBackoff` are refused as unknown fields, with a hint for the restart ones.
    public static func parseEmbedded(
        _ field: Field, name: String, inputs: [String: [UInt8]] = [:], defaultTenant: String,
        maxInputBytes: Int = ManifestLimits.defaultMaxInputBytes
    ) throws -> WorkloadSpec {
        if case .mapping = field.node {
            for (key, keyNode, _) in try field.pairs() where key == "restart" || key == "restartBackoff" {
                throw Field(keyNode, path: field.child(key)).error("a step's agent is not restarted; give the step a retry: instead")
            }
        }
        return try build(field, inputs: inputs, defaultTenant: defaultTenant, maxInputBytes: maxInputBytes, embeddedName: name)
    }
}
