import AsyncHTTPClient
import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Logging

/// Reads a cart from the cart service (`GET /api/v1/carts/{id}` at `checkout.cartServiceUrl`)
/// for a checkout by cart, with the caller's own credential, so a caller can check out only a
/// cart it may see. Read once per checkout; the order keeps the lines as they were then.
public struct CartLookup: Sendable {
    let baseURL: String
    let timeout: Duration
    let logger: Logger

    public init(baseURL: String, timeout: Duration = .seconds(3), logger: Logger) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = timeout
        self.logger = logger
    }

    /// The cart, or `nil` when the cart service has none that `authorization` may see. Throws a
    /// 503 problem when the cart service cannot answer.
    func cart(_ id: String, authorization: String?) async throws -> CartView? {
        var request = HTTPClientRequest(url: "\(baseURL)/api/v1/carts/\(id)")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            let body = try await response.body.collect(upTo: 1 << 20)
            switch response.status.code {
            case 200: return try JSONDecoder().decode(CartView.self, from: Data(body.readableBytesView))
            case 404: return nil
            default: throw Self.unavailable("it answered \(response.status.code)")
            }
        } catch let problem as ProblemDetails {
            throw problem
        } catch {
            logger.warning("cannot read a cart from the cart service", metadata: ["url": "\(baseURL)", "error": "\(error)"])
            throw Self.unavailable("it cannot be reached")
        }
    }

    private static func unavailable(_ why: String) -> ProblemDetails {
        var headers = HTTPFields()
        headers[.retryAfter] = "5"
        return ProblemDetails(
            status: .serviceUnavailable, type: "https://ordersaga.dev/problems/cart-service-unavailable", title: "The cart service is unavailable",
            detail: "a checkout by cart reads the cart from the cart service, and \(why); nothing was written, try again in 5 s (checkout.cartServiceUrl)",
            headers: headers)
    }
}
