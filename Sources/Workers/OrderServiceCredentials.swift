import AsyncHTTPClient
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
    private let credentialURL: String
    private let cacheFor: Duration
    private let timeout: Duration
    private let logger: Logger
    private let gate = CallerGate()
    /// By the credential's hash: the caller it is, or `nil` for one the order service refused.
    private let cache = Mutex<[String: (caller: Caller?, limit: Int, until: ContinuousClock.Instant)]>([:])

    /// `orderService`: the order service's base URL (`http://127.0.0.1:8080`).
    public init(orderService: String, cacheFor: Duration = .seconds(5), timeout: Duration = .seconds(3), logger: Logger) {
        self.credentialURL = orderService.hasSuffix("/") ? "\(orderService)api/v1/credential" : "\(orderService)/api/v1/credential"
        self.cacheFor = cacheFor
        self.timeout = timeout
        self.logger = logger
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
        var request = HTTPClientRequest(url: credentialURL)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds * 1_000_000_000)))
            let body = try await response.body.collect(upTo: 64 * 1024)
            switch response.status.code {
            case 200:
                let view = try JSONDecoder().decode(CredentialView.self, from: Data(body.readableBytesView))
                let scopes = Set(view.scopes.compactMap(Scope.init(rawValue:)))
                return (Caller(principal: view.principal, scopes: scopes, rateLimit: view.rateLimit), view.rateLimit)
            case 401, 403:
                return (nil, 0)
            case 429:
                // The order service's own limit on asking: this worker's callers are not to blame.
                throw Self.unavailable("the order service asked this worker to slow down")
            default:
                throw Self.unavailable("the order service answered \(response.status.code)")
            }
        } catch let problem as ProblemDetails {
            throw problem
        } catch {
            logger.warning("cannot check a credential with the order service", metadata: ["url": "\(credentialURL)", "error": "\(error)"])
            throw Self.unavailable("the order service (\(credentialURL)) cannot be reached")
        }
    }

    private static func unavailable(_ why: String) -> ProblemDetails {
        var headers = HTTPFields()
        headers[.retryAfter] = "5"
        return ProblemDetails(
            status: .serviceUnavailable, type: "https://ordersaga.dev/problems/unavailable", title: "Service unavailable",
            detail: "credentials are checked by the order service, and \(why); nothing was done, try again in 5 s (worker.orderServiceUrl)",
            headers: headers)
    }
}
