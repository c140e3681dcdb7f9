import CheckoutContracts
import Crypto
import Foundation
import HTTPEdge
import Hummingbird
import Logging
import Synchronization

/// Checks a worker's callers by asking the order service, which holds the API keys and the JWT
/// settings (`GET /api/v1/credential`, `worker.orderServiceUrl`): a worker reads no other
/// service's database. What the order service says of a credential is kept for `cacheFor` (5 s,
/// as the order service caches its keys), under the credential's SHA-256, so a busy caller costs
/// one request per 5 s and a revoked key stops working within 10 s. The caller's rate limit and
/// the route's scope are then checked here (``CallerGate``).
public final class OrderServiceCredentials: CallerAuthenticating {
    private let orderService: PeerService
    private let cacheFor: Duration
    private let gate = CallerGate()
    /// By the credential's hash: the caller it is, or `nil` for one the order service refused.
    private let cache = Mutex<[String: (caller: Caller?, limit: Int, until: ContinuousClock.Instant)]>([:])

    /// `orderService`: the order service's base URL (`http://127.0.0.1:8080`).
    public init(orderService: String, cacheFor: Duration = .seconds(5), timeout: Duration = .seconds(3), logger: Logger) {
        self.orderService = PeerService("the order service", at: orderService, setting: "worker.orderServiceUrl", timeout: timeout, logger: logger)
        self.cacheFor = cacheFor
    }

    public func caller(of request: Request, needs scopes: Set<Scope>) async throws -> Caller {
        guard let token = Caller.bearerToken(request.headers[.authorization]) else { throw ProblemDetails.unauthorized }
        let key = SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
        let now = ContinuousClock.now
        let known: (caller: Caller?, limit: Int)
        if let cached = cache.withLock({ $0[key] }), cached.until > now {
            known = (cached.caller, cached.limit)
        } else {
            known = try await ask(token)
            cache.withLock { cache in
                if cache.count > 10_000 { cache = cache.filter { $0.value.until > now } }
                cache[key] = (known.caller, known.limit, now + cacheFor)
            }
        }
        guard let caller = known.caller else { throw ProblemDetails.unauthorized }
        try gate.admit(caller, limit: known.limit, needs: scopes)
        return caller
    }

    /// What the order service says of `token`: the caller and its rate limit, or `nil` when it
    /// refused the credential. Throws a 503 problem when it cannot be asked.
    private func ask(_ token: String) async throws -> (caller: Caller?, limit: Int) {
        let (status, body) = try await orderService.get("/api/v1/credential", authorization: "Bearer \(token)")
        switch status {
        case 200:
            guard let view = try? JSONDecoder().decode(CredentialView.self, from: body) else {
                throw orderService.unavailable("credentials are checked by the order service, and its answer could not be read")
            }
            let scopes = Set(view.scopes.compactMap(Scope.init(rawValue:)))
            return (Caller(principal: view.principal, scopes: scopes, rateLimit: view.rateLimit), view.rateLimit)
        case 401, 403:
            return (nil, 0)
        case 429:
            // The order service's own limit on asking: this worker's callers are not to blame.
            throw orderService.unavailable("credentials are checked by the order service, and it asked this worker to slow down")
        default:
            throw orderService.unavailable("credentials are checked by the order service, and it answered \(status)")
        }
    }
}
