// ManifestBackoff.swift — `restartBackoff: {initial: 10s, max: 5m}`: the wait before each restart
// by the restart policy (AegisProtocol/RestartBackoff.swift). Both are durations of 1 s to 1 h;
// an omitted one keeps its default (10 s, 5 min); max must not be below initial.
import AegisProtocol

extension ManifestParser {
    static func readRestartBackoff(_ field: Field) throws -> RestartBackoff {
        let f = try field.mapping(allowed: ["initial", "max"])
        var backoff = RestartBackoff.standard
        func seconds(_ key: String) throws -> Int? {
            guard let v = f[key] else { return nil }
            let text = try v.scalar("a duration")
            let s = try v.at { try Quantity.durationSeconds(text, field: v.path) }
            let range = RestartBackoff.allowedSeconds
            guard range.contains(s) else {
                throw v.error(
                    "\(Quantity.quoted(text)) is \(s) s; the restart back-off must be between \(range.lowerBound) s and \(range.upperBound / 3600) h"
                )
            }
            return s
        }
        let initial = try seconds("initial"), maximum = try seconds("max")
        if let initial { backoff.initialSeconds = initial }
        if let maximum { backoff.maxSeconds = maximum }
        if initial != nil && maximum == nil { backoff.maxSeconds = max(backoff.maxSeconds, backoff.initialSeconds) }
        guard backoff.maxSeconds >= backoff.initialSeconds else {
            let culprit = f["max"] ?? field
            throw culprit.error("max \(backoff.maxSeconds) s is below initial \(backoff.initialSeconds) s")
        }
        return backoff
    }
}
