// GPUDetection.swift — GPUs from PCI sysfs, the NVIDIA procfs and DRM render nodes.
//
// Sources: kernel Documentation/ABI/testing/sysfs-bus-pci (vendor, device, class files: class is
// 0xCCSSPP = base class, subclass, prog-if; PCI class 0x03 = display controller, 0x12 = processing
// accelerator), Documentation/gpu/drm-uapi.rst ("Render nodes": /dev/dri/renderD<N>, N from 128),
// the NVIDIA driver README ("Device Files", "/proc Interface": /dev/nvidia<minor>, /dev/nvidiactl,
// /dev/nvidia-uvm*, /proc/driver/nvidia/gpus/<bus>/information) and the ROCm container docs
// (/dev/kfd plus the GPU's render node).

import AegisProtocol

/// GPUs found on the node plus the vendor-wide control nodes a sandbox needs next to each GPU's
/// own nodes (e.g. "/dev/nvidiactl", "/dev/kfd").
public struct GPUDetectionResult: Sendable, Equatable {
    /// Sorted by vendor, then index, then PCI address.
    public var gpus: [GPUDevice]
    /// vendor ("nvidia", "amd", "intel") → existing control device nodes (host paths); only vendors
    /// with at least one GPU appear.
    public var controlNodes: [String: [String]]
    /// Reasons the result is partial.
    public var warnings: [String]

    public init(gpus: [GPUDevice] = [], controlNodes: [String: [String]] = [:], warnings: [String] = []) {
        self.gpus = gpus
        self.controlNodes = controlNodes
        self.warnings = warnings
    }
}

enum GPUVendor {
    static let nvidia = "nvidia", amd = "amd", intel = "intel"

    /// Vendor name for a PCI (vendor id, class) pair, nil when the function is not a GPU we use:
    /// NVIDIA 0x10de and AMD 0x1002 with base class 0x03 (display/3D); AMD also 0x12 (Instinct
    /// accelerators such as MI300 enumerate as processing accelerators); Intel 0x8086 only with
    /// class 0x0300 (VGA) or 0x0380 (other display) so its NICs and bridges are skipped.
    static func classify(vendorID: UInt32, classCode: UInt32) -> String? {
        let base = classCode >> 16
        let baseSub = classCode >> 8
        switch vendorID {
        case 0x10de: return base == 0x03 ? nvidia : nil
        case 0x1002: return base == 0x03 || base == 0x12 ? amd : nil
        case 0x8086: return baseSub == 0x0300 || baseSub == 0x0380 ? intel : nil
        default: return nil
        }
    }
}

/// Parses "0x10de" / "10de" as hex.
func parseHex(_ s: String) -> UInt32? {
    var t = trimmed(s).lowercased()
    if t.hasPrefix("0x") { t.removeFirst(2) }
    return t.isEmpty ? nil : UInt32(t, radix: 16)
}

/// Canonical PCI address "dddd:bb:dd.f" in lower case; accepts nvidia-smi's 8-digit domain
/// ("00000000:3B:00.0"). nil when malformed.
public func normalizePCIAddress(_ address: String) -> String? {
    let t = trimmed(address).lowercased()
    let parts = t.split(separator: ":")
    guard parts.count == 3 || parts.count == 2 else { return nil }
    let domainText = parts.count == 3 ? String(parts[0]) : "0"
    let bus = parts[parts.count - 2]
    let devfn = parts[parts.count - 1].split(separator: ".")
    guard let domain = UInt32(domainText, radix: 16), domain <= 0xffff,
        let b = UInt8(bus, radix: 16), devfn.count == 2,
        let d = UInt8(devfn[0], radix: 16), d < 32, let f = UInt8(devfn[1], radix: 16), f < 8
    else { return nil }
    func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return "\(hex(domain, 4)):\(hex(UInt32(b), 2)):\(hex(UInt32(d), 2)).\(hex(UInt32(f), 1))"
}

enum GPUScan {
    static let pciDevices = "/sys/bus/pci/devices"
    static let nvidiaProc = "/proc/driver/nvidia/gpus"

    /// Vendor-wide device nodes, only those present under `files.root`.
    static func controlNodes(vendor: String, files: HostFiles) -> [String] {
        let candidates: [String]
        switch vendor {
        case GPUVendor.nvidia: candidates = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]
        case GPUVendor.amd: candidates = ["/dev/kfd"]
        default: candidates = []
        }
        return candidates.filter { files.exists($0) }
    }

    /// sysfs + procfs + /dev scan (no commands run).
    static func scan(_ files: HostFiles) -> GPUDetectionResult {
        var result = GPUDetectionResult()
        var byAddress: [String: GPUDevice] = [:]

        var entries: [String] = []
        if files.exists(pciDevices) {
            do { entries = try files.list(pciDevices) } catch { result.warnings.append("gpu: \(error)") }
        }
        for entry in entries {
            let dir = pciDevices + "/" + entry
            guard let vendorID = files.readTrimmed(dir + "/vendor").flatMap(parseHex),
                let classCode = files.readTrimmed(dir + "/class").flatMap(parseHex),
                let vendor = GPUVendor.classify(vendorID: vendorID, classCode: classCode)
            else { continue }
            let address = normalizePCIAddress(entry) ?? entry
            let deviceID = files.readTrimmed(dir + "/device") ?? "unknown"
            var gpu = GPUDevice(vendor: vendor, model: deviceID, pciAddress: address)
            if vendor == GPUVendor.amd || vendor == GPUVendor.intel {
                addRenderNode(&gpu, pciDir: dir, files: files, warnings: &result.warnings)
            }
            if vendor == GPUVendor.amd {
                if let name = files.readTrimmed(dir + "/product_name"), !name.isEmpty { gpu.model = name }
                if let vram = files.readTrimmed(dir + "/mem_info_vram_total").flatMap({ UInt64($0) }), vram > 0 {
                    gpu.memoryBytes = vram
                }
            }
            byAddress[address] = gpu
        }

        // NVIDIA procfs: model, UUID, minor. Also finds GPUs when sysfs is not visible.
        var procEntries: [String] = []
        if files.exists(nvidiaProc) {
            do { procEntries = try files.list(nvidiaProc) } catch { result.warnings.append("gpu: \(error)") }
        }
        var seenInProc = Set<String>()
        for entry in procEntries {
            let path = nvidiaProc + "/" + entry + "/information"
            let info: [String: String]
            do { info = parseNvidiaInformation(try files.read(path)) } catch {
                result.warnings.append("gpu: nvidia \(entry): \(error)")
                continue
            }
            guard let address = normalizePCIAddress(info["Bus Location"] ?? entry) else {
                result.warnings.append("gpu: nvidia \(path): malformed bus location")
                continue
            }
            seenInProc.insert(address)
            var gpu = byAddress[address] ?? GPUDevice(vendor: GPUVendor.nvidia, model: "unknown", pciAddress: address)
            if let model = info["Model"], !model.isEmpty { gpu.model = model }
            if let uuid = info["GPU UUID"], uuid.hasPrefix("GPU-"), !uuid.contains("?") { gpu.uuid = uuid }
            if let minorText = info["Device Minor"] {
                if let minor = Int(minorText), minor >= 0 {
                    gpu.index = minor
                    let node = "/dev/nvidia\(minor)"
                    if files.exists(node) {
                        gpu.deviceNodes = [node]
                    } else {
                        result.warnings.append("gpu: nvidia \(address): device node \(node) missing")
                    }
                } else {
                    result.warnings.append("gpu: nvidia \(address): malformed Device Minor \"\(minorText)\" in \(path)")
                }
            }
            byAddress[address] = gpu
        }
        for (address, gpu) in byAddress where gpu.vendor == GPUVendor.nvidia && !seenInProc.contains(address) {
            result.warnings.append(
                "gpu: nvidia \(address): no \(nvidiaProc)/\(address)/information (driver not loaded?); index and device node unknown")
        }

        result.gpus = byAddress.values.sorted {
            ($0.vendor, $0.index ?? Int.max, $0.pciAddress) < ($1.vendor, $1.index ?? Int.max, $1.pciAddress)
        }
        for vendor in Set(result.gpus.map(\.vendor)) {
            result.controlNodes[vendor] = controlNodes(vendor: vendor, files: files)
        }
        if result.gpus.contains(where: { $0.vendor == GPUVendor.amd }) && result.controlNodes[GPUVendor.amd]?.isEmpty != false {
            result.warnings.append("gpu: amd GPUs present but /dev/kfd is missing (amdgpu KFD not loaded?); compute unavailable")
        }
        if result.gpus.contains(where: { $0.vendor == GPUVendor.nvidia }) && !files.exists("/dev/nvidiactl") {
            result.warnings.append("gpu: nvidia GPUs present but /dev/nvidiactl is missing")
        }
        return result
    }

    /// The GPU's DRM render node: `<pci>/drm/renderD<N>` → "/dev/dri/renderD<N>", index N − 128.
    static func addRenderNode(_ gpu: inout GPUDevice, pciDir: String, files: HostFiles, warnings: inout [String]) {
        let drm = pciDir + "/drm"
        guard files.exists(drm), let names = try? files.list(drm) else {
            warnings.append("gpu: \(gpu.vendor) \(gpu.pciAddress): no DRM device (\(drm)); driver not bound?")
            return
        }
        let renders = names.compactMap { name -> Int? in
            guard name.hasPrefix("renderD") else { return nil }
            return Int(name.dropFirst("renderD".count))
        }.sorted()
        guard let n = renders.first else {
            warnings.append("gpu: \(gpu.vendor) \(gpu.pciAddress): no render node under \(drm)")
            return
        }
        gpu.index = n - 128
        let node = "/dev/dri/renderD\(n)"
        if files.exists(node) {
            gpu.deviceNodes = [node]
        } else {
            warnings.append("gpu: \(gpu.vendor) \(gpu.pciAddress): device node \(node) missing")
        }
    }

    /// "Key:  value" lines of /proc/driver/nvidia/gpus/<bus>/information.
    static func parseNvidiaInformation(_ text: String) -> [String: String] {
        var info: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            info[trimmed(line[..<colon])] = trimmed(line[line.index(after: colon)...])
        }
        return info
    }
}
