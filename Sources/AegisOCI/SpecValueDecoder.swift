// A `Decoder` over a parsed `JSONValue` tree. It exists for its errors: every failure is a
// `DecodingError` whose coding path is the exact JSON path, and whose debugDescription says what was
// expected and what was found ("expected string, found number 3"; "expected integer in 0...4294967295,
// found -1"). Integers are decoded from the literal text, so 64-bit values (seccomp arguments) are exact
// and "1.5" or "1e3" in an integer field is rejected, as Go's encoding/json (runc) rejects them.

import AegisProtocol

/// Decodes any `Decodable` from a `JSONValue`.
struct SpecValueDecoder: JSONValueDecoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: JSONValue, codingPath: [any CodingKey] = []) {
        self.value = value
        self.codingPath = codingPath
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try unbox(type, value, path: [])
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            throw Self.mismatch([String: Any].self, "object", value, codingPath)
        }
        return KeyedDecodingContainer(Keyed<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else {
            throw Self.mismatch([Any].self, "array", value, codingPath)
        }
        return Unkeyed(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        Single(value: value, codingPath: codingPath)
    }

    // MARK: - Unboxing

    static func unbox<T: Decodable>(_ type: T.Type, _ value: JSONValue, path: [any CodingKey]) throws -> T {
        if T.self == String.self {
            guard case .string(let s) = value else { throw mismatch(type, "string", value, path) }
            return s as! T
        }
        if T.self == Bool.self {
            guard case .bool(let b) = value else { throw mismatch(type, "boolean", value, path) }
            return b as! T
        }
        if T.self == JSONValue.self { return value as! T }
        if let integer = T.self as? any FixedWidthInteger.Type {
            return try unboxInteger(integer, value, path: path) as! T
        }
        if let floating = T.self as? any BinaryFloatingPoint.Type {
            guard case .number(let text) = value, let d = Double(text) else { throw mismatch(type, "number", value, path) }
            return floating.init(d) as! T
        }
        return try T(from: SpecValueDecoder(value, codingPath: path))
    }

    private static func unboxInteger<I: FixedWidthInteger>(
        _ type: I.Type, _ value: JSONValue,
        path: [any CodingKey]
    ) throws -> I {
        guard case .number(let text) = value else { throw mismatch(type, "integer", value, path) }
        if let n = I(text, radix: 10) { return n }
        if text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            throw DecodingError.typeMismatch(
                type,
                .init(
                    codingPath: path,
                    debugDescription: "expected integer, found number \(text)"))
        }
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: path,
                debugDescription: "expected integer in \(I.min)...\(I.max), found \(text)"))
    }

    static func mismatch(_ type: Any.Type, _ expected: String, _ value: JSONValue, _ path: [any CodingKey]) -> DecodingError {
        if value == .null {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "expected \(expected), found null"))
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "expected \(expected), found \(value.kindDescription)"))
    }

    // MARK: - Containers

    private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let object: [String: JSONValue]
        let codingPath: [any CodingKey]

        var allKeys: [Key] { object.keys.sorted().compactMap { Key(stringValue: $0) } }
        func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

        private func value(_ key: Key) throws -> JSONValue {
            guard let v = object[key.stringValue] else {
                throw DecodingError.keyNotFound(
                    key,
                    .init(
                        codingPath: codingPath,
                        debugDescription: "missing required field \"\(key.stringValue)\""))
            }
            return v
        }

        func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try SpecValueDecoder.unbox(type, try value(key), path: codingPath + [key])
        }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type, key) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type, key) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type, key) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type, key) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type, key) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type, key) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type, key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type, key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type, key) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type, key) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type, key) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type, key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type, key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type, key) }
        private func decode<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
            try SpecValueDecoder.unbox(type, try value(key), path: codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type, forKey key: Key
        ) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try SpecValueDecoder(try value(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try SpecValueDecoder(try value(key), codingPath: codingPath + [key]).unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder {
            SpecValueDecoder(object[AnyCodingKey("super").stringValue] ?? .null, codingPath: codingPath + [AnyCodingKey("super")])
        }
        func superDecoder(forKey key: Key) throws -> any Decoder {
            SpecValueDecoder(object[key.stringValue] ?? .null, codingPath: codingPath + [key])
        }
    }

    private struct Unkeyed: UnkeyedDecodingContainer {
        let items: [JSONValue]
        let codingPath: [any CodingKey]
        var currentIndex = 0

        init(items: [JSONValue], codingPath: [any CodingKey]) {
            self.items = items
            self.codingPath = codingPath
        }

        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        private mutating func next<T>(_ type: T.Type) throws -> (JSONValue, [any CodingKey]) {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    type,
                    .init(
                        codingPath: codingPath + [IndexCodingKey(currentIndex)],
                        debugDescription: "array has only \(items.count) elements"))
            }
            defer { currentIndex += 1 }
            return (items[currentIndex], codingPath + [IndexCodingKey(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            if !isAtEnd, items[currentIndex] == .null { currentIndex += 1; return true }
            return false
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (v, path) = try next(type)
            return try SpecValueDecoder.unbox(type, v, path: path)
        }
        mutating func decode(_ type: Bool.Type) throws -> Bool { try decodeAny(type) }
        mutating func decode(_ type: String.Type) throws -> String { try decodeAny(type) }
        mutating func decode(_ type: Double.Type) throws -> Double { try decodeAny(type) }
        mutating func decode(_ type: Float.Type) throws -> Float { try decodeAny(type) }
        mutating func decode(_ type: Int.Type) throws -> Int { try decodeAny(type) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try decodeAny(type) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try decodeAny(type) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeAny(type) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeAny(type) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try decodeAny(type) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeAny(type) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeAny(type) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeAny(type) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeAny(type) }
        private mutating func decodeAny<T: Decodable>(_ type: T.Type) throws -> T {
            let (v, path) = try next(type)
            return try SpecValueDecoder.unbox(type, v, path: path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type
        ) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            let (v, path) = try next([String: Any].self)
            return try SpecValueDecoder(v, codingPath: path).container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (v, path) = try next([Any].self)
            return try SpecValueDecoder(v, codingPath: path).unkeyedContainer()
        }
        mutating func superDecoder() throws -> any Decoder {
            let (v, path) = try next(Any.self)
            return SpecValueDecoder(v, codingPath: path)
        }
    }

    private struct Single: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [any CodingKey]

        func decodeNil() -> Bool { value == .null }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Bool.Type) throws -> Bool { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: String.Type) throws -> String { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Double.Type) throws -> Double { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Float.Type) throws -> Float { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Int.Type) throws -> Int { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Int8.Type) throws -> Int8 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Int16.Type) throws -> Int16 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Int32.Type) throws -> Int32 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: Int64.Type) throws -> Int64 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: UInt.Type) throws -> UInt { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try SpecValueDecoder.unbox(type, value, path: codingPath) }
    }
}
