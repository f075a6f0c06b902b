// NvidiaSMI.swift — optional enrichment of NVIDIA GPUs (already found in sysfs/procfs) with
// nvidia-smi's name, UUID and memory. nvidia-smi never adds or removes GPUs: a failing, hanging or
// garbage-printing nvidia-smi only costs attributes and adds a warning.
//
// Query format: nvidia-smi --help-query-gpu (index, uuid, name, memory.total in MiB with
// "nounits", pci.bus_id as "00000000:3B:00.0").

import AegisProtocol

/// One parsed nvidia-smi CSV row.
struct NvidiaSMIRow: Sendable, Equatable {
    var index: Int?
    var uuid: String?
    var name: String?
    /// MiB.
    var memoryMiB: UInt64?
    var pciAddress: String
}

enum NvidiaSMI {
    static let arguments = ["--query-gpu=index,uuid,name,memory.total,pci.bus_id", "--format=csv,noheader,nounits"]

    /// Parses the CSV; returns rows and the lines that could not be parsed.
    static func parse(_ text: String) -> (rows: [NvidiaSMIRow], bad: [String]) {
        var rows: [NvidiaSMIRow] = []
        var bad: [String] = []
        for raw in text.split(separator: "\n") {
            let line = trimmed(raw)
            if line.isEmpty { continue }
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { trimmed($0) }
            guard f.count == 5, let address = normalizePCIAddress(f[4]) else {
                bad.append(line)
                continue
            }
            func known(_ s: String) -> String? {
                s.isEmpty || s.hasPrefix("[") || s == "N/A" ? nil : s
            }
            rows.append(
                NvidiaSMIRow(
                    index: Int(f[0]), uuid: known(f[1]).flatMap { $0.hasPrefix("GPU-") ? $0 : nil },
                    name: known(f[2]), memoryMiB: known(f[3]).flatMap { UInt64($0) },
                    pciAddress: address))
        }
        return (rows, bad)
    }

    /// Runs nvidia-smi (a real path) and merges its rows into `gpus` by PCI address.
    static func enrich(_ gpus: inout [GPUDevice], executable: String, hostPath: String, timeout: Duration) async -> [String] {
        let result = await CommandRunner.run(executable, arguments: arguments, argv0: "nvidia-smi", timeout: timeout)
        var warnings: [String] = []
        guard result.succeeded else {
            return [
                "nvidia-smi (\(hostPath)): \(CommandRunner.failureReason(result, timeout: timeout)); GPU attributes from sysfs/procfs only"
            ]
        }
        let (rows, bad) = parse(result.stdout)
        if !bad.isEmpty {
            warnings.append("nvidia-smi (\(hostPath)): \(bad.count) unparseable line(s), first: \"\(CommandRunner.firstLine(bad[0]))\"")
        }
        if rows.isEmpty && bad.isEmpty {
            warnings.append("nvidia-smi (\(hostPath)): printed no GPUs")
        }
        for row in rows {
            guard let i = gpus.firstIndex(where: { $0.vendor == GPUVendor.nvidia && $0.pciAddress == row.pciAddress }) else {
                warnings.append("nvidia-smi (\(hostPath)): GPU at \(row.pciAddress) not found in sysfs/procfs; ignored")
                continue
            }
            if let name = row.name { gpus[i].model = name }
            if gpus[i].uuid == nil, let uuid = row.uuid { gpus[i].uuid = uuid }
            if let mib = row.memoryMiB, mib > 0 { gpus[i].memoryBytes = mib * 1024 * 1024 }
        }
        return warnings
    }
}
