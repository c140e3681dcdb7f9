import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird

/// The cart service's REST API, on the cart worker's own port, over its own database: carts are
/// made for a customer, items added, set to a quantity or removed, and a cart read as its events
/// fold it, or as those events. A cart belongs to the credential that made it: a `checkout`
/// credential sees and changes only its own (another's answers 404, as a missing one); `admin`
/// any. A cart converted into an order takes no more changes (409).
public struct CartAPI: ServiceAPI {
    let store: CartStore
    let authenticator: any CallerAuthenticating
    let bodyLimit: Int

    public init(store: CartStore, authenticator: any CallerAuthenticating, bodyLimit: Int) {
        self.store = store
        self.authenticator = authenticator
        self.bodyLimit = bodyLimit
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.post("carts", use: create)
        api.get("carts/:id", use: get)
        api.get("carts/:id/events", use: events)
        api.post("carts/:id/items", use: addItem)
        api.put("carts/:id/items/:product", use: setItem)
        api.delete("carts/:id/items/:product", use: removeItem)
    }

    /// Whose carts `caller` may see: `nil` (every cart) for an admin.
    static func owner(_ caller: Caller) -> String? { caller.scopes.contains(.admin) ? nil : caller.principal }

    /// `POST /api/v1/carts` `{"id"?, "customerId"}`: 201 with the empty cart (an id is made when
    /// none is given); it belongs to this credential.
    @Sendable func create(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["id", "customerId"], of: "a cart")
        let id = fields.has("id") ? fields.identifier("id") : "cart-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let customer = fields.identifier("customerId")
        try fields.check(what: "The cart")
        guard let id, let customer else { throw ProblemDetails.invalid(fields.problems, what: "The cart") }
        do {
            let cart = try await store.create(id: id, customer: customer, owner: caller.principal)
            var headers = HTTPFields()
            headers[.location] = "/api/v1/carts/\(id)"
            return try jsonResponse(cart, status: .created, headers: headers)
        } catch CartRefusal.duplicate {
            throw ProblemDetails.duplicate("cart", id)
        }
    }

    /// `GET /api/v1/carts/{id}`: the cart folded from its events.
    @Sendable func get(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let id = try pathIdentifier(context)
        guard let cart = try await store.cart(id, owner: Self.owner(caller)) else { throw Self.noCart(id) }
        return try jsonResponse(cart)
    }

    /// `GET /api/v1/carts/{id}/events`: its events, oldest first.
    @Sendable func events(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let id = try pathIdentifier(context)
        guard let events = try await store.history(id, owner: Self.owner(caller)) else { throw Self.noCart(id) }
        return try jsonResponse(CartHistory(cartId: id, events: events))
    }

    /// `POST /api/v1/carts/{id}/items` `{"productId", "quantity"}`: adds that many (to a line
    /// already there, too); the cart after.
    @Sendable func addItem(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let id = try pathIdentifier(context)
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["productId", "quantity"], of: "an item (prices come from the catalog)")
        let product = fields.identifier("productId")
        let quantity = fields.wholeNumber("quantity", in: 1...CartContract.maxQuantity)
        try fields.check(what: "The item")
        guard let product, let quantity else { throw ProblemDetails.invalid(fields.problems, what: "The item") }
        return try await changing(id, caller) { owner in
            try await store.change(id, owner: owner, type: Cart.EventType.itemAdded, product: product, quantity: quantity)
        }
    }

    /// `PUT /api/v1/carts/{id}/items/{product}` `{"quantity"}`: sets the line's quantity.
    @Sendable func setItem(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let id = try pathIdentifier(context)
        let product = try pathIdentifier(context, "product")
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["quantity"], of: "an item's change")
        let quantity = fields.wholeNumber("quantity", in: 1...CartContract.maxQuantity)
        try fields.check(what: "The change")
        guard let quantity else { throw ProblemDetails.invalid(fields.problems, what: "The change") }
        return try await changing(id, caller) { owner in
            try await store.change(id, owner: owner, type: Cart.EventType.itemQuantitySet, product: product, quantity: quantity)
        }
    }

    /// `DELETE /api/v1/carts/{id}/items/{product}`: removes the line; the cart after.
    @Sendable func removeItem(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let id = try pathIdentifier(context)
        let product = try pathIdentifier(context, "product")
        return try await changing(id, caller) { owner in
            try await store.change(id, owner: owner, type: Cart.EventType.itemRemoved, product: product, quantity: nil)
        }
    }

    /// Runs a change, turning the store's refusals into problems.
    private func changing(_ id: String, _ caller: Caller, _ body: (String?) async throws -> CartView) async throws -> Response {
        do {
            return try jsonResponse(try await body(Self.owner(caller)))
        } catch let refusal as CartRefusal {
            switch refusal {
            case .notFound, .duplicate: throw Self.noCart(id)
            case .noSuchItem: throw ProblemDetails.notFound("cart \(id) has no such item")
            case .notActive(let status):
                throw ProblemDetails(
                    status: .conflict, type: "https://ordersaga.dev/problems/cart-not-active", title: "The cart takes no more changes",
                    detail: "cart \(id) is \(status): it was checked out; make a new cart")
            case .overLimit(let field, let problem):
                throw ProblemDetails.invalid([.init(field: field, problem: problem)], what: "The item")
            }
        }
    }

    static func noCart(_ id: String) -> ProblemDetails { .notFound("no cart \(id)") }
}

/// A cart's events, oldest first.
struct CartHistory: Encodable {
    var cartId: String
    var events: [CartEventView]
}
