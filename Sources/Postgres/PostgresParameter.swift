import Foundation

/// A value that can be bound to a `$n` placeholder. Values travel in PostgreSQL's text format and
/// are never interpolated into SQL.
public protocol PostgresParameter: Sendable {
    /// The text form PostgreSQL parses for this value; `nil` binds SQL NULL.
    var postgresText: String? { get }
}

extension String: PostgresParameter { public var postgresText: String? { self } }
extension Substring: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int64: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int32: PostgresParameter { public var postgresText: String? { String(self) } }
extension Double: PostgresParameter { public var postgresText: String? { String(self) } }
extension Bool: PostgresParameter { public var postgresText: String? { self ? "t" : "f" } }
extension UUID: PostgresParameter { public var postgresText: String? { uuidString.lowercased() } }

extension Optional: PostgresParameter where Wrapped: PostgresParameter {
    public var postgresText: String? { self?.postgresText }
}

/// Arrays bind as PostgreSQL array literals (`{"a","b"}`), for `= ANY($1)` and `unnest($1::text[])`.
/// Built from UTF-8 bytes: `"` and `\` never occur inside a multi-byte character, so escaping
/// them byte by byte is exact, and a value without them is copied whole (the outbox's message
/// bodies go through here; walking their Characters was a twentieth of the order service's CPU).
extension Array: PostgresParameter where Element: PostgresParameter {
    public var postgresText: String? {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        for (index, element) in enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard var value = element.postgresText else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(quote)
            value.withUTF8 { utf8 in
                guard utf8.contains(where: { $0 == quote || $0 == backslash }) else {
                    bytes.append(contentsOf: utf8)
                    return
                }
                for byte in utf8 {
                    if byte == quote || byte == backslash { bytes.append(backslash) }
                    bytes.append(byte)
                }
            }
            bytes.append(quote)
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// JSON bound as text, for `jsonb` columns (which keep no key order: none is asked of the encoder).
public struct PostgresJSON: PostgresParameter {
    public let text: String
    public init<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    public init(rawJSON: String) { self.text = rawJSON }
    public var postgresText: String? { text }
}
