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
extension Array: PostgresParameter where Element: PostgresParameter {
    public var postgresText: String? {
        var text = "{"
        for (index, element) in enumerated() {
            if index > 0 { text += "," }
            guard let value = element.postgresText else {
                text += "NULL"
                continue
            }
            text += "\""
            for character in value {
                if character == "\"" || character == "\\" { text += "\\" }
                text.append(character)
            }
            text += "\""
        }
        return text + "}"
    }
}

/// JSON bound as text, for `jsonb` columns.
public struct PostgresJSON: PostgresParameter {
    public let text: String
    public init<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    public init(rawJSON: String) { self.text = rawJSON }
    public var postgresText: String? { text }
}
