// `linux.resources.blockIO` and `hugepageLimits` (config-linux.md § Block IO, § Huge page limits),
// kept as JSON in `LinuxResources` and read here into typed values with the field path of any error.

import AegisProtocol

/// `linux.resources.blockIO`: weights 10...1000, per-device weights and throttles (bytes or IO/s).
public struct LinuxBlockIO: Sendable, Equatable {
    public struct DeviceRate: Sendable, Equatable {
        public var major: Int64, minor: Int64, rate: UInt64
    }
    public struct DeviceWeight: Sendable, Equatable {
        public var major: Int64, minor: Int64, weight: UInt16
    }
    public var weight: UInt16?
    public var weightDevices: [DeviceWeight] = []
    /// Keys: throttleReadBpsDevice, throttleWriteBpsDevice, throttleReadIOPSDevice, throttleWriteIOPSDevice.
    public var throttles: [(key: String, rates: [DeviceRate])] = []

    public static func == (a: LinuxBlockIO, b: LinuxBlockIO) -> Bool {
        a.weight == b.weight && a.weightDevices == b.weightDevices
            && a.throttles.map(\.key) == b.throttles.map(\.key) && a.throttles.map(\.rates) == b.throttles.map(\.rates)
    }

    static let throttleKeys = ["throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"]

    /// Reads blockIO; leafWeight (cgroup v1 only) and unknown keys are errors naming the field.
    public init(_ value: JSONValue, path: String) throws {
        guard case .object(let o) = value else { throw SpecError(path: path, message: "expected an object") }
        for key in o.keys.sorted() where !(["weight", "weightDevice"] + Self.throttleKeys).contains(key) {
            throw SpecError(
                path: "\(path).\(key)", message: key.contains("leafWeight") ? "not supported (cgroup v1 only)" : "unknown field")
        }
        if let w = o["weight"] { weight = try Self.weight(w, path: "\(path).weight") }
        if let list = o["weightDevice"] {
            for (i, item) in try Self.array(list, path: "\(path).weightDevice").enumerated() {
                let p = "\(path).weightDevice[\(i)]"
                let (major, minor, fields) = try Self.device(item, path: p)
                if fields["leafWeight"] != nil { throw SpecError(path: "\(p).leafWeight", message: "not supported (cgroup v1 only)") }
                guard let w = fields["weight"] else { throw SpecError(path: "\(p).weight", message: "required") }
                weightDevices.append(DeviceWeight(major: major, minor: minor, weight: try Self.weight(w, path: "\(p).weight")))
            }
        }
        for key in Self.throttleKeys {
            guard let list = o[key] else { continue }
            var rates: [DeviceRate] = []
            for (i, item) in try Self.array(list, path: "\(path).\(key)").enumerated() {
                let p = "\(path).\(key)[\(i)]"
                let (major, minor, fields) = try Self.device(item, path: p)
                guard let r = fields["rate"], let rate = r.intValue, rate >= 0 else {
                    throw SpecError(path: "\(p).rate", message: "required, a non-negative integer")
                }
                rates.append(DeviceRate(major: major, minor: minor, rate: UInt64(rate)))
            }
            throttles.append((key, rates))
        }
    }

    static func weight(_ v: JSONValue, path: String) throws -> UInt16 {
        guard let w = v.intValue, (10...1000).contains(w) else { throw SpecError(path: path, message: "must be in 10...1000") }
        return UInt16(w)
    }

    static func array(_ v: JSONValue, path: String) throws -> [JSONValue] {
        guard case .array(let a) = v else { throw SpecError(path: path, message: "expected an array") }
        return a
    }

    static func device(_ v: JSONValue, path: String) throws -> (Int64, Int64, [String: JSONValue]) {
        guard case .object(let o) = v else { throw SpecError(path: path, message: "expected an object") }
        guard let major = o["major"]?.intValue, major >= 0 else { throw SpecError(path: "\(path).major", message: "required, ≥ 0") }
        guard let minor = o["minor"]?.intValue, minor >= 0 else { throw SpecError(path: "\(path).minor", message: "required, ≥ 0") }
        return (major, minor, o)
    }
}

/// One `linux.resources.hugepageLimits` entry: a page size as the kernel names it ("2MB", "1GB")
/// and a limit in bytes.
public struct LinuxHugepageLimit: Sendable, Equatable {
    public var pageSize: String
    public var limit: UInt64

    /// Reads the list; errors name the entry.
    public static func list(_ value: JSONValue, path: String) throws -> [LinuxHugepageLimit] {
        try LinuxBlockIO.array(value, path: path).enumerated().map { i, item in
            let p = "\(path)[\(i)]"
            guard case .object(let o) = item else { throw SpecError(path: p, message: "expected an object") }
            guard case .string(let size)? = o["pageSize"], let unit = size.last(where: { $0.isLetter }), size.hasSuffix("B"),
                size.dropLast(2).allSatisfy(\.isNumber), !size.dropLast(2).isEmpty, "KMG".contains(size.dropLast().last ?? unit)
            else {
                throw SpecError(path: "\(p).pageSize", message: "expected a size such as \"2MB\" or \"1GB\"")
            }
            guard let limit = o["limit"]?.intValue, limit >= 0 else { throw SpecError(path: "\(p).limit", message: "required, bytes ≥ 0") }
            return LinuxHugepageLimit(pageSize: size, limit: UInt64(limit))
        }
    }
}
