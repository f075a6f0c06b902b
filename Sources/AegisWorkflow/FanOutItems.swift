// FanOutItems.swift — the items of a fan-out's list: a JSON list (`withItems` parameters, outputs
// that start with `[`) or the non-empty lines of an output.

import AegisManifest
import Yams

/// Reads fan-out item lists.
public enum FanOutItems {
    /// The items of an output file's text (`withOutput`): a text starting with `[` (after
    /// whitespace) is a JSON list of strings, numbers or booleans (each item its text); any other
    /// text gives its non-empty lines, without trailing `\r`. Nil when a `[` text is not such a list.
    public static func parse(_ text: String) -> [String]? {
        if text.drop(while: { $0.isWhitespace }).first == "[" { return jsonList(text) }
        return text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter {
                !$0.allSatisfy(\.isWhitespace)
            }
    }

    /// A JSON (or YAML flow) list of scalars → their texts; nil for anything else.
    public static func jsonList(_ text: String) -> [String]? {
        guard text.drop(while: { $0.isWhitespace }).first == "[", (try? KeyScan.check(text)) != nil,
            let node = try? Yams.compose(yaml: text), case .sequence(let seq) = node
        else { return nil }
        var out: [String] = []
        for item in seq {
            guard case .scalar(let s) = item else { return nil }
            out.append(s.string)
        }
        return out
    }
}
