// EnvExpansion.swift — Kubernetes' `$(VAR_NAME)` references in a container's `command`, `args` and
// `env[].value` (k8s.io/kubernetes third_party/forked/golang/expansion): `$(NAME)` becomes the
// value of NAME when it is defined, and stays as written when it is not; `$$` is one `$`, so
// `$$(NAME)` is the literal `$(NAME)`. An env value may refer only to variables defined before it in
// the list; command and args see them all. The image's Env takes no part (the kubelet expands from
// the container's `env` only).

public enum EnvExpansion {
    /// `text` with every `$(NAME)` of `variables` replaced.
    public static func expand(_ text: String, _ variables: [String: String]) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            let next = text.index(after: i)
            guard c == "$", next < text.endIndex else {
                out.append(c)
                i = next
                continue
            }
            if text[next] == "$" {  // "$$" → "$"
                out.append("$")
                i = text.index(after: next)
            } else if text[next] == "(", let close = text[next...].firstIndex(of: ")") {
                let name = String(text[text.index(after: next)..<close])
                if let value = variables[name] {
                    out += value
                } else {
                    out += text[i...close]
                }
                i = text.index(after: close)
            } else {
                out.append("$")
                i = next
            }
        }
        return out
    }

    /// The container's env with each value expanded against the entries before it, in order (a
    /// later entry of the same name replaces an earlier one).
    public static func expand(env: [EnvVar]) -> [EnvVar] {
        var known: [String: String] = [:]
        var out: [EnvVar] = []
        for v in env {
            let value = expand(v.value, known)
            known[v.name] = value
            out.append(EnvVar(name: v.name, value: value))
        }
        return out
    }

    /// The variables `command` and `args` may refer to: the container's expanded env.
    public static func variables(_ env: [EnvVar]) -> [String: String] {
        var out: [String: String] = [:]
        for v in expand(env: env) { out[v.name] = v.value }
        return out
    }
}
