// InputAssembly.swift — matches the uploaded files against the manifest's `file` and `files.inputs`
// and adds an inline script, under the input size cap.
import AegisProtocol

enum InputAssembly {
    static let inputsPath = "files.inputs"

    /// Uploads by normalized path, in byte order, with lookup of everything under a directory.
    struct Uploads {
        let files: [String: [UInt8]]
        let sorted: [[UInt8]]

        init(_ files: [String: [UInt8]]) {
            self.files = files
            sorted = files.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        }

        /// Every upload whose path starts with `dir/`.
        func under(_ dir: String) -> [String] {
            let prefix = Array(dir.utf8) + [0x2F]
            var lo = 0, hi = sorted.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if sorted[mid].lexicographicallyPrecedes(prefix) { lo = mid + 1 } else { hi = mid }
            }
            var out: [String] = []
            while lo < sorted.count, sorted[lo].starts(with: prefix) {
                out.append(String(decoding: sorted[lo], as: UTF8.self))
                lo += 1
            }
            return out
        }
    }

    /// Errors about the uploads as a whole point at files.inputs (or files, or the root); every path
    /// is below `root`'s (a workflow step's `agent`, or the manifest's root).
    static func assemble(
        uploads raw: [String: [UInt8]], file: String?, fileField: Field?, listed: Field?, filesField: Field,
        script: (path: String, bytes: [UInt8])?, scriptField: Field?,
        outputDir: String, outputField: Field?, maxBytes: Int, root: Field
    ) throws -> [String: [UInt8]] {
        let inputsPath = root.child(Self.inputsPath)
        let anchor = Field((listed ?? filesField).node, path: inputsPath)
        let uploads = Uploads(try anchor.at { try SpecChecks.normalizedInputs(raw, path: inputsPath) })
        var used = Set<String>()

        if let file, let fileField {
            guard uploads.files[file] != nil else {
                if !uploads.under(file).isEmpty { throw fileField.error("\(Quantity.quoted(file)) is a directory of uploads, not a file") }
                throw fileField.error(
                    "\(Quantity.quoted(file)) was not uploaded (the CLI sends it from the manifest's directory; API callers put its content in inputs)"
                )
            }
            used.insert(file)
        }
        if let listed {
            for item in try listed.items("a list of file paths") {
                let text = try item.scalar("a file path")
                let path = try item.at { try SpecChecks.relativePath(text, path: item.path, what: "input") }
                var matched = false
                if uploads.files[path] != nil { used.insert(path); matched = true }
                for k in uploads.under(path) { used.insert(k); matched = true }
                guard matched else {
                    throw item.error(
                        "\(Quantity.quoted(path)) was not uploaded (the CLI sends it from the manifest's directory; API callers put its content in inputs)"
                    )
                }
            }
        }
        if let extra = uploads.files.keys.filter({ !used.contains($0) }).sorted().first {
            throw anchor.error("uploaded file \(Quantity.quoted(extra)) is not named by file or files.inputs")
        }

        var out = uploads.files
        if let script {
            if out[script.path] != nil {
                throw (scriptField ?? anchor).error(
                    "the script is written to \(script.path), which is also an uploaded file; rename that file")
            }
            out[script.path] = script.bytes
        }
        // The output directory must be a directory: not an input file, nor under one.
        let outField = outputField ?? Field(filesField.node, path: root.child("files.output"))
        var prefix = ""
        for component in outputDir.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + component
            if out[prefix] != nil {
                throw outField.error(
                    "output directory \(Quantity.quoted(outputDir)) collides with the input file \(Quantity.quoted(prefix))")
            }
        }
        try anchor.locate { try SpecChecks.checkTotalSize(out, max: maxBytes, path: inputsPath) }
        return out
    }
}
