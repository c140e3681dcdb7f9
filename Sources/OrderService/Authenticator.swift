import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Synchronization

/// Checks the credential on a request (`Authorization: Bearer osk_…`, or a JWT when a key for
/// them is configured: ``TokenVerifier``), the caller's rate limit and
/// the scope a route needs, in that order. A missing, unknown, malformed or revoked credential
/// answers the same 401, so it never tells which part was wrong; the credential is never logged.
///
/// A key's record is cached for `cacheFor` (5 s), so a busy caller costs no query per request and
/// a revoked key stops working within that time.
final class Authenticator: CallerAuthenticating {
    /// The stored key with this id, revoked or not; `nil` when there is none. `hash` is the hash of
    /// the key the request showed, for the store to mark the key used when it matches.
    typealias Lookup = @Sendable (_ id: String, _ hash: String) async throws -> APIKeyRecord?

    private let lookup: Lookup
    private let tokens: TokenVerifier?
    private let defaultRateLimit: Int
    private let cacheFor: Duration
    private let cache = Mutex<[String: (record: APIKeyRecord?, until: ContinuousClock.Instant)]>([:])
    private let gate = CallerGate()

    /// `defaultRateLimit`: requests a second for a key without its own (`api.rateLimit`; 0: none).
    init(defaultRateLimit: Int, cacheFor: Duration = .seconds(5), tokens: TokenVerifier? = nil, lookup: @escaping Lookup) {
        self.lookup = lookup
        self.tokens = tokens
        self.defaultRateLimit = defaultRateLimit
        self.cacheFor = cacheFor
    }

    /// The caller, if its credential is valid, within its rate limit and has one of `scopes` (any
    /// valid credential when `scopes` is empty).
    func caller(of request: Request, needs scopes: Set<Scope>) async throws -> Caller {
        guard let token = Caller.bearerToken(request.headers[.authorization]) else { throw ProblemDetails.unauthorized }
        let caller: Caller
        if let key = APIKey(token) {
            guard let record = try await record(key.id, hash: key.hash), record.revokedAt == nil, APIKey.sameHash(record.hash, key.hash) else {
                throw ProblemDetails.unauthorized
            }
            caller = Caller(principal: key.principal, scopes: Set(record.scopes), rateLimit: record.rateLimit)
        } else if let tokens, let bearer = await tokens.caller(token) {
            caller = bearer
        } else {
            throw ProblemDetails.unauthorized
        }
        try gate.admit(caller, limit: rateLimit(of: caller), needs: scopes)
        return caller
    }

    /// The requests a second `caller` may make (0: no limit).
    func rateLimit(of caller: Caller) -> Int {
        caller.rateLimit ?? defaultRateLimit
    }

    private func record(_ id: String, hash: String) async throws -> APIKeyRecord? {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[id] }), cached.until > now { return cached.record }
        let record = try await lookup(id, hash)
        cache.withLock { cache in
            if cache.count > 10_000 { cache = cache.filter { $0.value.until > now } }
            cache[id] = (record, now + cacheFor)
        }
        return record
    }
}
