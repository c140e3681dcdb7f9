import CheckoutContracts
import Foundation
import HTTPEdge
import Logging

/// Reads a cart from the cart service (`GET /api/v1/carts/{id}` at `checkout.cartServiceUrl`)
/// for a checkout by cart, with the caller's own credential, so a caller can check out only a
/// cart it may see. Read once per checkout; the order keeps the lines as they were then.
public struct CartLookup: Sendable {
    let carts: PeerService

    public init(baseURL: String, timeout: Duration = .seconds(3), logger: Logger) {
        carts = PeerService("the cart service", at: baseURL, setting: "checkout.cartServiceUrl", timeout: timeout, logger: logger)
    }

    /// The cart, or `nil` when the cart service has none that `authorization` may see. Throws a
    /// 503 problem when the cart service cannot answer.
    func cart(_ id: String, authorization: String?) async throws -> CartView? {
        let (status, body) = try await carts.get("/api/v1/carts/\(id)", authorization: authorization)
        switch status {
        case 200:
            guard let cart = try? JSONDecoder().decode(CartView.self, from: body) else {
                throw carts.unavailable("a checkout by cart reads the cart from the cart service, and its answer could not be read")
            }
            return cart
        case 404: return nil
        default: throw carts.unavailable("a checkout by cart reads the cart from the cart service, and it answered \(status)")
        }
    }
}
