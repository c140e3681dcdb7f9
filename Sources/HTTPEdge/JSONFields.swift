import Foundation
import HTTPTypes
import Hummingbird

/// Reading a JSON request body field by field, so that every problem names its field, the same
/// way in every service: unknown fields refused, ids, text and whole numbers with their bounds.
public struct JSONFields {
    /// The body's object.
    public let object: [String: Any]
    /// The problems found so far, in the order they were found.
    public private(set) var problems: [ProblemDetails.FieldProblem] = []

    public init(_ object: [String: Any]) {
        self.object = object
    }

    /// The body's JSON object, or a 400 problem.
    public static func object(_ body: [UInt8]) throws(ProblemDetails) -> [String: Any] {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(body))
        } catch {
            throw .malformed("the body must be a JSON object: \(error.localizedDescription)")
        }
        guard let object = json as? [String: Any] else { throw .malformed("the body must be a JSON object") }
        return object
    }

    /// A request's JSON object: `415` unless its Content-Type is JSON, `413` past `limit` bytes,
    /// `400` unless it is one JSON object.
    public static func object(of request: Request, limit: Int) async throws -> [String: Any] {
        let contentType = request.headers[.contentType]
        guard let contentType, isJSON(contentType) else { throw ProblemDetails.unsupportedMediaType(contentType) }
        let buffer = try await request.body.collect(upTo: limit)
        return try object(Array(buffer.readableBytesView))
    }

    /// `application/json` or any `application/…+json`, with or without parameters.
    public static func isJSON(_ contentType: String) -> Bool {
        let mediaType = (contentType.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    public mutating func problem(_ field: String, _ text: String) {
        problems.append(.init(field: field, problem: text))
    }

    /// Every field not in `known` is a problem: "is not a field of `what`".
    public mutating func refuseUnknown(_ known: Set<String>, of what: String) {
        for key in object.keys.sorted() where !known.contains(key) { problem(key, "is not a field of \(what)") }
    }

    /// 422 naming every problem, if there were any.
    public func check(what: String) throws(ProblemDetails) {
        guard problems.isEmpty else { throw .invalid(problems, what: what) }
    }

    /// Whether the field is given: an optional field given as `null` is read, and refused, as
    /// the document's types say.
    public func has(_ key: String) -> Bool { object[key] != nil }

    /// An id: 1 to 64 letters, digits, `-`, `_` or `.`; a problem when it is missing or not one.
    public mutating func identifier(_ key: String) -> String? {
        guard let value = object[key] else {
            problem(key, "is required")
            return nil
        }
        guard let text = value as? String, Self.isIdentifier(text) else {
            problem(key, "must be an id of 1 to 64 letters, digits, -, _ or .")
            return nil
        }
        return text
    }

    public static func isIdentifier(_ text: some StringProtocol) -> Bool {
        (1...64).contains(text.count) && text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") })
    }

    /// Text of 1 to `maxLength` characters, not only spaces; a problem when it is missing or not.
    public mutating func text(_ key: String, maxLength: Int) -> String? {
        // Counted in Unicode code points, as JSON Schema (openapi.yaml) counts them.
        guard let value = object[key] as? String, !value.allSatisfy(\.isWhitespace), value.unicodeScalars.count <= maxLength else {
            problem(key, "must be text of 1 to \(maxLength) characters")
            return nil
        }
        return value
    }

    /// A whole number in `range`; a problem when it is missing or not.
    public mutating func wholeNumber(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = Self.wholeNumber(object[key]), range.contains(value) else {
            problem(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return value
    }

    /// An RFC 3339 time (`2026-11-25T09:30:00Z`, `…:00.250+01:00`); a problem when it is missing or not one.
    public mutating func time(_ key: String) -> Date? {
        // From 1970 to 9999: what every database and client stores without surprise.
        guard let text = object[key] as? String, let date = Self.rfc3339(text),
              (0..<253_402_300_800).contains(date.timeIntervalSince1970)
        else {
            problem(key, "must be an RFC 3339 time from 1970 to 9999, as 2026-11-25T09:30:00Z")
            return nil
        }
        return date
    }

    /// `text` as an RFC 3339 time, with or without fractional seconds; `nil` when it is not one.
    public static func rfc3339(_ text: String) -> Date? {
        guard text.count <= 40 else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }

    /// A JSON number that is a whole number (not a bool, not 2.5).
    public static func wholeNumber(_ value: Any?) -> Int? {
        // JSONSerialization gives true and false as NSNumbers of C type "c" (char); on Linux even
        // the number 1 answers `is Bool`, so the C type is what tells them apart.
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 1e15 else { return nil }
        return Int(double)
    }
}

/// `value` as JSON (sorted keys, slashes as they are), with `Content-Type: application/json`.
public func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}

/// The path parameter `name` (`{id}`) as an id (``JSONFields/isIdentifier(_:)``), or a 422 naming it.
public func pathIdentifier(_ context: some RequestContext, _ name: String = "id") throws(ProblemDetails) -> String {
    let id = context.parameters.get(name) ?? ""
    guard JSONFields.isIdentifier(id) else {
        throw ProblemDetails.invalid([.init(field: name, problem: "must be an id of 1 to 64 letters, digits, -, _ or .")], what: "The path")
    }
    return id
}
