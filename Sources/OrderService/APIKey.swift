import CheckoutContracts
import Crypto
import Foundation
import HTTPEdge

/// An API key as its holder sends it: `osk_<id>_<secret>`. The id (12 hex digits) names the key in
/// lists and logs; only the SHA-256 of the whole text is stored, so the database never holds a
/// key that would work. A key is 256 random bits, so a plain hash is as strong as a slow one.
public struct APIKey: Sendable, Equatable {
    public let id: String
    /// The whole key, shown once when it is created.
    public let text: String

    static let prefix = "osk_"

    /// A new key from the system's secure random source.
    public static func generate() -> APIKey {
        var generator = SystemRandomNumberGenerator()
        let id = hex((0..<6).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let secret = hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return APIKey(id: id, text: "\(prefix)\(id)_\(secret)")
    }

    /// The key in `text` if it has a key's shape (not whether it is valid).
    public init?(_ text: String) {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, "\(parts[0])_" == Self.prefix, parts[1].count == 12, parts[2].count == 64,
              (parts[1] + parts[2]).allSatisfy({ $0.isHexDigit && !$0.isUppercase })
        else { return nil }
        self.init(id: String(parts[1]), text: text)
    }

    private init(id: String, text: String) {
        self.id = id
        self.text = text
    }

    /// What the database stores: the SHA-256 of the whole key, in hex.
    public var hash: String { Self.hex(Array(SHA256.hash(data: Array(text.utf8)))) }

    /// Who placed an order with this key (``Caller/principal``).
    var principal: String { "key:\(id)" }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// Compares two hashes in time that does not depend on where they differ.
    static func sameHash(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// An API key as stored: never the key itself.
public struct APIKeyRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var scopes: [Scope]
    /// Requests a second it may make; `nil`: the service's `api.rateLimit`; 0: no limit.
    public var rateLimit: Int?
    public var createdAt: String
    public var revokedAt: String?
    /// When a request last showed it, to within the service's 5 s cache; `nil`: never.
    public var lastUsedAt: String?
    /// The SHA-256 of the key ([APIKey.hash]); not shown.
    var hash: String = ""

    enum CodingKeys: String, CodingKey { case id, name, scopes, rateLimit, createdAt, revokedAt, lastUsedAt }
}

extension Caller {
    /// The owner whose orders this caller may read: `nil` (every order) for an admin.
    var orderOwner: String? { scopes.contains(.admin) ? nil : principal }
}
