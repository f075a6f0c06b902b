import Foundation

/// Encodes an `Encodable` value as compact JSON in one pass: bytes are written while the value's
/// `encode(to:)` runs, with no intermediate tree, no key sorting and no whitespace. Keys come out
/// in the order the value encodes them (declaration order for synthesized conformances), so equal
/// values give equal bytes.
///
/// It is what the controller's hot paths use (stored specs, API answers): Foundation's
/// `JSONEncoder` builds a tree of boxed values and sorts every object's keys, which was ~18% of the
/// controller's CPU per submission. The output decodes with `JSONDecoder`'s defaults to the same
/// value: `Data` is Base64 (as `JSONEncoder`'s default `dataEncodingStrategy`), `Date` is its own
/// `Codable` form (the default `deferredToDate`), `URL` its absolute string, and a non-finite
/// floating-point value is refused as `JSONEncoder` refuses it (`EncodingError.invalidValue`).
///
/// Containers must be used in the nested, last-opened-first-finished order synthesized code
/// follows. A conformance that does anything else (`superEncoder`, writing to a container after a
/// later sibling's, mixing container kinds on one encoder) is encoded by `JSONEncoder` instead, so
/// the result is always valid JSON of the value.
public struct CompactJSONEncoder: Sendable {
    private var verbatim: JSONStreamVerbatim?

    public init() {}

    /// An encoder that writes `json` as it is wherever a value of type `type` is encoded: for a
    /// value that holds one such value whose encoding is known already (a workload and its stored
    /// spec). `json` must be that value's JSON; it is not parsed.
    public init<V: Encodable>(writing json: [UInt8], for type: V.Type) {
        verbatim = JSONStreamVerbatim(type: ObjectIdentifier(type), json: json)
    }

    /// The JSON bytes of `value` (UTF-8).
    /// - Throws: `EncodingError` from the value or for a non-finite float.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = JSONStreamWriter(verbatim: verbatim)
        do {
            try writer.encodeValue(value, parent: nil, key: nil)
            if !writer.unsupported { return writer.bytes }
        } catch is JSONStreamUnsupported {}
        let fallback = JSONEncoder()
        fallback.outputFormatting = [.sortedKeys]
        return Array(try fallback.encode(value))
    }

    /// The JSON text of `value`.
    public func encodeString<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}

/// Bytes written as they are for every value of one type (`CompactJSONEncoder.init(writing:for:)`).
struct JSONStreamVerbatim: Sendable {
    var type: ObjectIdentifier
    var json: [UInt8]
}

/// A conformance used containers out of order; `CompactJSONEncoder` falls back to `JSONEncoder`.
struct JSONStreamUnsupported: Error {}

/// The output and the stack of open containers (innermost last).
///
/// Its mutable state is `@exclusivity(unchecked)`: one encode runs on one thread and no access
/// overlaps another, and the dynamic checks were a fifth of the encoder's time.
final class JSONStreamWriter {
    @exclusivity(unchecked) var bytes: [UInt8] = []
    /// Set by a use the stream cannot follow through a non-throwing protocol method
    /// (`superEncoder`); the result is then discarded for `JSONEncoder`'s.
    @exclusivity(unchecked) var unsupported = false
    @exclusivity(unchecked) private(set) var open: [OpenContainer] = []
    @exclusivity(unchecked) private var nextID = 0

    struct OpenContainer {
        var id: Int
        var closer: UInt8
        var hasMember = false
    }

    /// Written as it is for a value of that type (see `CompactJSONEncoder.init(writing:for:)`).
    let verbatim: JSONStreamVerbatim?

    init(verbatim: JSONStreamVerbatim? = nil) {
        self.verbatim = verbatim
        bytes.reserveCapacity(1024)
    }

    /// Opens an object or array; returns its identity and depth (its index + 1 in `open`).
    func push(_ opener: UInt8, _ closer: UInt8) -> (id: Int, depth: Int) {
        nextID &+= 1
        bytes.append(opener)
        open.append(OpenContainer(id: nextID, closer: closer))
        return (nextID, open.count)
    }

    /// Closes every container deeper than `depth`.
    func close(deeperThan depth: Int) {
        while open.count > depth { bytes.append(open.removeLast().closer) }
    }

    /// Starts a member of container `id` at `depth`: closes its finished nested containers and
    /// writes the separator. Throws when that container is already closed (out-of-order use).
    func beginMember(id: Int, depth: Int) throws {
        guard open.count >= depth, open[depth - 1].id == id else { throw JSONStreamUnsupported() }
        close(deeperThan: depth)
        if open[depth - 1].hasMember { bytes.append(UInt8(ascii: ",")) } else { open[depth - 1].hasMember = true }
    }

    /// Writes `value` where the current member's value goes.
    func encodeValue<T: Encodable>(_ value: T, parent: JSONStreamEncoder?, key: (any CodingKey)?) throws {
        // Types `JSONEncoder` writes specially, and the primitives a generic call can carry.
        if T.self == String.self { return writeString(unsafeBitCast(value, to: String.self)) }
        if T.self == Int.self { return writeInteger(unsafeBitCast(value, to: Int.self)) }
        if T.self == Bool.self { return writeBool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == Double.self {
            return try writeDouble(unsafeBitCast(value, to: Double.self), path: { Self.path(parent, key) })
        }
        if T.self == Data.self { return writeString((value as! Data).base64EncodedString()) }
        if T.self == URL.self { return writeString((value as! URL).absoluteString) }
        if T.self == Decimal.self { return bytes.append(contentsOf: (value as! Decimal).description.utf8) }
        if let verbatim, verbatim.type == ObjectIdentifier(T.self) { return bytes.append(contentsOf: verbatim.json) }
        let encoder = JSONStreamEncoder(writer: self, parent: parent, key: key)
        let base = open.count
        // The metatype is cast, not the value (casting a value to an existential copies it).
        if let dictionary = T.self as? any JSONStreamStringKeyedDictionary.Type {
            return try dictionary.writeSorted(value, to: self, encoder: encoder)
        }
        try value.encode(to: encoder)
        if !encoder.wroteValue { bytes.append(contentsOf: "{}".utf8) }
        close(deeperThan: base)
    }

    func writeBool(_ b: Bool) { bytes.append(contentsOf: b ? "true".utf8 : "false".utf8) }

    /// Decimal digits written straight into the output (no String per number); integers wider
    /// than 64 bits go through `String`.
    func writeInteger<I: BinaryInteger>(_ i: I) {
        guard i.bitWidth <= 64 else { return bytes.append(contentsOf: String(i).utf8) }
        if i < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = UInt64(i.magnitude)
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    func writeDouble(_ d: Double, path: () -> [any CodingKey]) throws {
        guard d.isFinite else {
            throw EncodingError.invalidValue(
                d, .init(codingPath: path(), debugDescription: "Unable to encode Double.\(d) directly in JSON."))
        }
        var text = d.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var start = 0
            for (i, c) in utf8.enumerated() where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                appendEscape(c)
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private func appendEscape(_ c: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(c)
        case 0x0A: bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(UInt8(ascii: "t"))
        case 0x08: bytes.append(UInt8(ascii: "b"))
        case 0x0C: bytes.append(UInt8(ascii: "f"))
        default:
            let hex = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: "u00".utf8)
            bytes.append(hex[Int(c >> 4)])
            bytes.append(hex[Int(c & 0xF)])
        }
    }

    /// The coding path of a value written under `parent` at `key`.
    static func path(_ parent: JSONStreamEncoder?, _ key: (any CodingKey)?) -> [any CodingKey] {
        var keys: [any CodingKey] = key.map { [$0] } ?? []
        var node = parent
        while let n = node {
            if let k = n.key { keys.append(k) }
            node = n.parent
        }
        return keys.reversed()
    }
}

/// The `Encoder` handed to one value's `encode(to:)`: it writes either one container or one
/// single value at the writer's current position.
final class JSONStreamEncoder: Encoder {
    let writer: JSONStreamWriter
    let parent: JSONStreamEncoder?
    let key: (any CodingKey)?
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var codingPath: [any CodingKey] { JSONStreamWriter.path(parent, key) }
    /// The container this encoder opened (its identity, depth and whether it is keyed).
    @exclusivity(unchecked) private var container: OpenedContainer?
    @exclusivity(unchecked) private(set) var wroteValue = false

    /// The container an encoder opened: its identity and depth in the writer's stack.
    struct OpenedContainer {
        var id: Int
        var depth: Int
        var keyed: Bool
    }

    init(writer: JSONStreamWriter, parent: JSONStreamEncoder?, key: (any CodingKey)?) {
        self.writer = writer
        self.parent = parent
        self.key = key
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let (id, depth) = openContainer(keyed: true)
        return KeyedEncodingContainer(JSONStreamKeyedContainer<Key>(encoder: self, id: id, depth: depth))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let (id, depth) = openContainer(keyed: false)
        return JSONStreamUnkeyedContainer(encoder: self, id: id, depth: depth)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { JSONStreamSingleValue(encoder: self) }

    /// Opens this encoder's container, or hands out the one it opened before (a second request of
    /// the same kind continues it). A conflicting request marks the stream unsupported (the protocol's
    /// methods cannot throw here) and yields a container that throws on first use.
    private func openContainer(keyed: Bool) -> (Int, Int) {
        if let c = container {
            if c.keyed == keyed { return (c.id, c.depth) }
            writer.unsupported = true
            return (-1, 1)
        }
        guard !wroteValue else {
            writer.unsupported = true
            return (-1, 1)
        }
        wroteValue = true
        let (id, depth) = keyed ? writer.push(UInt8(ascii: "{"), UInt8(ascii: "}")) : writer.push(UInt8(ascii: "["), UInt8(ascii: "]"))
        container = OpenedContainer(id: id, depth: depth, keyed: keyed)
        return (id, depth)
    }

    /// What `superEncoder` returns: the stream cannot follow it, so the result is discarded for
    /// `JSONEncoder`'s and this encoder writes to a scratch writer.
    func unsupportedEncoder() -> any Encoder {
        writer.unsupported = true
        return JSONStreamEncoder(writer: JSONStreamWriter(), parent: self, key: nil)
    }

    /// Claims the single-value slot; throws when something was written here already.
    func beginSingleValue() throws {
        guard !wroteValue else { throw JSONStreamUnsupported() }
        wroteValue = true
    }
}

/// A dictionary with `String` keys: written as an object with its keys sorted (as `JSONEncoder`
/// with `.sortedKeys`), so equal dictionaries give equal bytes whatever their hash order.
protocol JSONStreamStringKeyedDictionary {
    static func writeSorted(_ value: Any, to writer: JSONStreamWriter, encoder: JSONStreamEncoder) throws
}

extension Dictionary: JSONStreamStringKeyedDictionary where Key == String, Value: Encodable {
    static func writeSorted(_ value: Any, to writer: JSONStreamWriter, encoder: JSONStreamEncoder) throws {
        guard let dictionary = value as? Self else { throw JSONStreamUnsupported() }
        if dictionary.isEmpty { return writer.bytes.append(contentsOf: "{}".utf8) }
        var keys: [String] = []
        keys.reserveCapacity(dictionary.count)
        for key in dictionary.keys { keys.append(key) }
        if keys.count > 1 { keys.sort() }
        let (id, depth) = writer.push(UInt8(ascii: "{"), UInt8(ascii: "}"))
        for key in keys {
            guard let element = dictionary[key] else { continue }
            try writer.beginMember(id: id, depth: depth)
            writer.writeString(key)
            writer.bytes.append(UInt8(ascii: ":"))
            try writer.encodeValue(element, parent: encoder, key: JSONStreamStringKey(key))
        }
        writer.close(deeperThan: depth - 1)
    }
}

/// A dictionary's key, for coding paths.
struct JSONStreamStringKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ key: String) { stringValue = key }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// An index in an unkeyed container, for coding paths.
struct JSONStreamIndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}
