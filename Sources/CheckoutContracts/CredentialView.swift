/// What `GET /api/v1/credential` answers: who a credential is, what it may do and its rate
/// limit. The workers ask the order service this about each credential they are shown.
public struct CredentialView: Codable, Equatable, Sendable {
    /// `key:<id>` or `jwt:<sub>`: who owns the orders this credential places.
    public var principal: String
    /// `apiKey` or `jwt`.
    public var kind: String
    public var scopes: [String]
    /// Requests a second it may make of the instance that answered (0: no limit).
    public var rateLimit: Int

    public init(principal: String, kind: String, scopes: [String], rateLimit: Int) {
        self.principal = principal
        self.kind = kind
        self.scopes = scopes
        self.rateLimit = rateLimit
    }
}
