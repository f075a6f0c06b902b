import Foundation

/// An object being written by `CompactJSONEncoder`: each member is its key, then its value.
struct JSONStreamKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: JSONStreamEncoder
    let writer: JSONStreamWriter
    let id: Int
    let depth: Int
    var codingPath: [any CodingKey] { encoder.codingPath }

    init(encoder: JSONStreamEncoder, id: Int, depth: Int) {
        self.encoder = encoder
        self.writer = encoder.writer
        self.id = id
        self.depth = depth
    }

    private func member(_ key: Key) throws {
        try writer.beginMember(id: id, depth: depth)
        writer.writeString(key.stringValue)
        writer.bytes.append(UInt8(ascii: ":"))
    }

    mutating func encodeNil(forKey key: Key) throws {
        try member(key)
        writer.bytes.append(contentsOf: "null".utf8)
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try member(key)
        writer.writeBool(value)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        try member(key)
        writer.writeString(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        try member(key)
        try writer.writeDouble(value, path: { codingPath + [key] })
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        try member(key)
        try writer.writeDouble(Double(value), path: { codingPath + [key] })
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try integer(value, key) }

    private func integer<I: BinaryInteger>(_ value: I, _ key: Key) throws {
        try member(key)
        writer.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try member(key)
        try writer.encodeValue(value, parent: encoder, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = JSONStreamEncoder(writer: writer, parent: encoder, key: key)
        do { try member(key) } catch { writer.unsupported = true }
        return child.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = JSONStreamEncoder(writer: writer, parent: encoder, key: key)
        do { try member(key) } catch { writer.unsupported = true }
        return child.unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { encoder.unsupportedEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { encoder.unsupportedEncoder() }
}

/// An array being written by `CompactJSONEncoder`.
struct JSONStreamUnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: JSONStreamEncoder
    let writer: JSONStreamWriter
    let id: Int
    let depth: Int
    private(set) var count = 0
    var codingPath: [any CodingKey] { encoder.codingPath }

    init(encoder: JSONStreamEncoder, id: Int, depth: Int) {
        self.encoder = encoder
        self.writer = encoder.writer
        self.id = id
        self.depth = depth
    }

    private mutating func element() throws -> JSONStreamIndexKey {
        try writer.beginMember(id: id, depth: depth)
        count += 1
        return JSONStreamIndexKey(count - 1)
    }

    mutating func encodeNil() throws {
        _ = try element()
        writer.bytes.append(contentsOf: "null".utf8)
    }
    mutating func encode(_ value: Bool) throws {
        _ = try element()
        writer.writeBool(value)
    }
    mutating func encode(_ value: String) throws {
        _ = try element()
        writer.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        let key = try element()
        try writer.writeDouble(value, path: { codingPath + [key] })
    }
    mutating func encode(_ value: Float) throws {
        let key = try element()
        try writer.writeDouble(Double(value), path: { codingPath + [key] })
    }
    mutating func encode(_ value: Int) throws { try integer(value) }
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: Int32) throws { try integer(value) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }

    private mutating func integer<I: BinaryInteger>(_ value: I) throws {
        _ = try element()
        writer.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = try element()
        try writer.encodeValue(value, parent: encoder, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = (try? element()) ?? JSONStreamIndexKey(count)
        if key.intValue != count - 1 { writer.unsupported = true }
        return JSONStreamEncoder(writer: writer, parent: encoder, key: key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = (try? element()) ?? JSONStreamIndexKey(count)
        if key.intValue != count - 1 { writer.unsupported = true }
        return JSONStreamEncoder(writer: writer, parent: encoder, key: key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { encoder.unsupportedEncoder() }
}

/// The one value an encoder writes when the conformance asks for a single-value container.
struct JSONStreamSingleValue: SingleValueEncodingContainer {
    let encoder: JSONStreamEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    private var writer: JSONStreamWriter { encoder.writer }

    mutating func encodeNil() throws {
        try encoder.beginSingleValue()
        writer.bytes.append(contentsOf: "null".utf8)
    }
    mutating func encode(_ value: Bool) throws {
        try encoder.beginSingleValue()
        writer.writeBool(value)
    }
    mutating func encode(_ value: String) throws {
        try encoder.beginSingleValue()
        writer.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        try encoder.beginSingleValue()
        try writer.writeDouble(value, path: { codingPath })
    }
    mutating func encode(_ value: Float) throws {
        try encoder.beginSingleValue()
        try writer.writeDouble(Double(value), path: { codingPath })
    }
    mutating func encode(_ value: Int) throws { try integer(value) }
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: Int32) throws { try integer(value) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }

    private mutating func integer<I: BinaryInteger>(_ value: I) throws {
        try encoder.beginSingleValue()
        writer.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encoder.beginSingleValue()
        // The value takes this encoder's place (same parent and key in coding paths).
        try writer.encodeValue(value, parent: encoder.parent, key: encoder.key)
    }
}
