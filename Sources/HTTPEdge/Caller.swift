import Foundation
import CheckoutContracts
import HTTPTypes
import Hummingbird

/// Who is calling, once their credential checked out.
public struct Caller: Sendable, Equatable {
    /// Who owns what this caller creates: `key:<id>` for an API key, `jwt:<sub>` for a token.
    public let principal: String
    public let scopes: Set<Scope>
    /// Requests a second; `nil`: the service's default; 0: no limit.
    public let rateLimit: Int?

    public init(principal: String, scopes: Set<Scope>, rateLimit: Int?) {
        self.principal = principal
        self.scopes = scopes
        self.rateLimit = rateLimit
    }

    /// `apiKey` or `jwt`: what the principal was made from.
    public var kind: String { principal.hasPrefix("key:") ? "apiKey" : "jwt" }

    /// The token of `Authorization: Bearer <token>` (the scheme in any case, RFC 9110).
    public static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// What every service does once it knows the caller, in this order: the caller's rate limit
/// (429 with `Retry-After`), then the scope the route needs (403).
public struct CallerGate: Sendable {
    private let limiter = RateLimiter()

    public init() {}

    /// Throws the problem to answer; `limit` is the caller's requests a second (0: none) and
    /// `scopes` what the route takes (any valid credential when empty).
    public func admit(_ caller: Caller, limit: Int, needs scopes: Set<Scope>) throws(ProblemDetails) {
        if limit > 0, let wait = limiter.take(caller.principal, perSecond: limit) {
            throw ProblemDetails.rateLimited(limit: limit, retryAfter: wait)
        }
        guard scopes.isEmpty || !caller.scopes.isDisjoint(with: scopes) else { throw ProblemDetails.forbidden(needs: scopes) }
    }
}

extension ProblemDetails {
    /// No valid credential. The same answer for every reason, with the scheme to use.
    public static var unauthorized: ProblemDetails {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = #"Bearer realm="ordersaga""#
        return ProblemDetails(
            status: .unauthorized, type: "https://ordersaga.dev/problems/unauthorized", title: "A valid credential is needed",
            detail: "send a valid API key (or token) as Authorization: Bearer …; `ordersaga api-key create` makes a key", headers: headers)
    }

    /// The credential is valid but may not do this.
    public static func forbidden(needs scopes: Set<Scope>) -> ProblemDetails {
        let names = scopes.sorted().map(\.rawValue)
        return ProblemDetails(
            status: .forbidden, type: "https://ordersaga.dev/problems/forbidden", title: "The credential may not do this",
            detail: "this needs a credential with the scope \(names.joined(separator: " or "))")
    }

    /// The caller went over its rate limit.
    public static func rateLimited(limit: Int, retryAfter: Int) -> ProblemDetails {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfter)
        return ProblemDetails(
            status: .tooManyRequests, type: "https://ordersaga.dev/problems/rate-limited", title: "Too many requests",
            detail: "this credential may make \(limit) requests a second; nothing was done, try again in \(retryAfter) s",
            headers: headers)
    }
}

/// Who is calling, checked by whatever a service trusts: the order service reads its own keys,
/// a worker asks the order service.
public protocol CallerAuthenticating: Sendable {
    /// The caller, if its credential is valid, within its rate limit and has one of `scopes` (any
    /// valid credential when `scopes` is empty); otherwise throws the problem to answer.
    func caller(of request: Request, needs scopes: Set<Scope>) async throws -> Caller
}

/// A service's REST API: its routes, added to the service's router beside the probes.
public protocol ServiceAPI: Sendable {
    func addRoutes(to router: Router<BasicRequestContext>)
}
