// KeyScan.swift — a linear pre-pass over libyaml's event stream that refuses non-scalar mapping
// keys before Yams composes the tree.
//
// Why: Yams checks every mapping for duplicate keys by hashing the key nodes, and an alias is the
// anchored node itself. A key such as `? *a9` where a9 is a list of ten *a8, each ten *a7, … (the
// "billion laughs" shape) would be hashed through 10^9 nodes: a controller hang from a few hundred
// bytes of tenant text. Manifest keys are always plain names, so collection and alias keys are
// refused here in one O(n) pass; syntax errors are left for the composer to report.

import CYaml

public enum KeyScan {
    /// Throws `ManifestError` at the first collection or alias used as a mapping key.
    public static func check(_ text: String) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw ManifestError(path: "", message: "cannot initialize the YAML parser (out of memory)")
        }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return }
        try bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            // Per open collection: is it a mapping, and how many child nodes it has had so far.
            var stack: [(isMapping: Bool, children: Int)] = []
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }  // Yams reports the syntax error
                defer { yaml_event_delete(&event) }
                let type = event.type
                switch type {
                case YAML_STREAM_END_EVENT:
                    return
                case YAML_SCALAR_EVENT, YAML_ALIAS_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    if let top = stack.last {
                        if top.isMapping && top.children % 2 == 0 && type != YAML_SCALAR_EVENT {
                            let what = type == YAML_ALIAS_EVENT ? "an alias" : type == YAML_SEQUENCE_START_EVENT ? "a list" : "a mapping"
                            throw ManifestError(
                                path: "", line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1,
                                message: "mapping keys must be plain names, found \(what) used as a key")
                        }
                        stack[stack.count - 1].children += 1
                    }
                    if type == YAML_SEQUENCE_START_EVENT { stack.append((false, 0)) }
                    if type == YAML_MAPPING_START_EVENT { stack.append((true, 0)) }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    _ = stack.popLast()
                default:
                    break
                }
            }
        }
    }
}
