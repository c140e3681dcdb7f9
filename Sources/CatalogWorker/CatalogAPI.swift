import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird

/// The catalog's REST API, on the catalog worker's own port, over the catalog's own database:
/// products (create, rename or reprice, list, get) and their stock (set, adjust with a reason, and
/// the history of adjustments, reservations and releases). Any valid credential reads products;
/// changing them and reading stock history need `admin`.
public struct CatalogAPI: ServiceAPI {
    let store: CatalogStore
    let authenticator: any CallerAuthenticating
    /// The largest request body, in bytes.
    let bodyLimit: Int

    public init(store: CatalogStore, authenticator: any CallerAuthenticating, bodyLimit: Int) {
        self.store = store
        self.authenticator = authenticator
        self.bodyLimit = bodyLimit
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("products", use: list)
        api.post("products", use: create)
        api.get("products/:id", use: get)
        api.patch("products/:id", use: update)
        api.put("products/:id/stock", use: setStock)
        api.post("products/:id/stock/adjustments", use: adjust)
        api.get("products/:id/stock/history", use: history)
    }

    /// Product names are up to this many characters.
    static let maxName = 200
    static let maxPrice = 100_000_000
    /// A stock change's reason is up to this many characters.
    static let maxReason = 200

    // MARK: Products

    /// `GET /api/v1/products?limit=&cursor=`: products by id, a page at a time.
    @Sendable func list(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [])
        let (products, next) = try await keyedPage(request, isKey: JSONFields.isIdentifier, key: \Product.id, fetch: store.products)
        return try jsonResponse(ProductPage(products: products, nextCursor: next))
    }

    struct ProductPage: Codable {
        var products: [Product]
        var nextCursor: String?
    }

    /// `GET /api/v1/products/{id}`.
    @Sendable func get(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [])
        let id = try Self.productID(context)
        guard let product = try await store.product(id) else { throw Self.noProduct(id) }
        return try jsonResponse(product)
    }

    /// `POST /api/v1/products` `{"id", "name", "priceCents", "stock"}`: 201 with the product and
    /// its Location; 409 when the id is taken.
    @Sendable func create(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.admin])
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["id", "name", "priceCents", "stock"], of: "a product")
        let id = fields.identifier("id")
        let name = fields.text("name", maxLength: Self.maxName)
        let price = fields.wholeNumber("priceCents", in: 0...Self.maxPrice)
        let stock = fields.has("stock") ? fields.wholeNumber("stock", in: 0...CatalogStore.maxStock) : 0
        try fields.check(what: "The product")
        guard let id, let name, let price, let stock else { throw ProblemDetails.invalid(fields.problems, what: "The product") }
        do {
            let product = try await store.create(id: id, name: name, priceCents: price, stock: stock, actor: caller.principal)
            var headers = HTTPFields()
            headers[.location] = "/api/v1/products/\(id)"
            return try jsonResponse(product, status: .created, headers: headers)
        } catch let refusal as CatalogRefusal where refusal.reason == .duplicate {
            throw ProblemDetails.duplicate("product", id, hint: "change it with PATCH /api/v1/products/\(id)")
        }
    }

    /// `PATCH /api/v1/products/{id}` `{"name"?, "priceCents"?}`: the product as changed. A new
    /// price holds for reservations made after it; orders keep the price they reserved at.
    @Sendable func update(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try Self.productID(context)
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["name", "priceCents"], of: "a product's changes (stock has its own routes)")
        let name = fields.has("name") ? fields.text("name", maxLength: Self.maxName) : nil
        let price = fields.has("priceCents") ? fields.wholeNumber("priceCents", in: 0...Self.maxPrice) : nil
        if !fields.has("name") && !fields.has("priceCents") && fields.problems.isEmpty {
            fields.problem("name", "give name, priceCents or both")
        }
        try fields.check(what: "The change")
        do {
            return try jsonResponse(try await store.update(id, name: name, priceCents: price))
        } catch let refusal as CatalogRefusal where refusal.reason == .notFound {
            throw Self.noProduct(id)
        }
    }

    // MARK: Stock

    /// `PUT /api/v1/products/{id}/stock` `{"stock", "reason"?}`: sets the units free to reserve
    /// (a stock count), recorded as the adjustment it amounts to. 200 with the product.
    @Sendable func setStock(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.admin])
        let id = try Self.productID(context)
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["stock", "reason"], of: "a stock count")
        let stock = fields.wholeNumber("stock", in: 0...CatalogStore.maxStock)
        let reason = fields.has("reason") ? fields.text("reason", maxLength: Self.maxReason) : "stock count"
        try fields.check(what: "The stock count")
        guard let stock, let reason else { throw ProblemDetails.invalid(fields.problems, what: "The stock count") }
        let (product, _) = try await adjusting(id, field: "stock") {
            try await store.adjust(id, setTo: stock, reason: reason, actor: caller.principal)
        }
        return try jsonResponse(product)
    }

    /// `POST /api/v1/products/{id}/stock/adjustments` `{"delta", "reason"}`: adds units (a
    /// delivery) or takes them (breakage); 201 with the adjustment. Stock never goes below 0: 409.
    @Sendable func adjust(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.admin])
        let id = try Self.productID(context)
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["delta", "reason"], of: "a stock adjustment")
        var delta = fields.wholeNumber("delta", in: -CatalogStore.maxStock...CatalogStore.maxStock)
        if delta == 0 {
            fields.problem("delta", "must not be 0")
            delta = nil
        }
        let reason = fields.text("reason", maxLength: Self.maxReason)
        try fields.check(what: "The adjustment")
        guard let delta, let reason else { throw ProblemDetails.invalid(fields.problems, what: "The adjustment") }
        let (_, change) = try await adjusting(id, field: "delta") {
            try await store.adjust(id, delta: delta, reason: reason, actor: caller.principal)
        }
        return try jsonResponse(change, status: .created)
    }

    /// Runs a stock change, turning the store's refusals into problems that name `field`.
    private func adjusting<T: Sendable>(_ id: String, field: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let refusal as CatalogRefusal {
            switch refusal.reason {
            case .notFound, .duplicate: throw Self.noProduct(id)
            case .belowZero(let stock):
                throw ProblemDetails(
                    status: .conflict, type: "https://ordersaga.dev/problems/insufficient-stock", title: "Stock cannot go below 0",
                    detail: "\(id) has \(stock) units free to reserve; nothing was changed",
                    errors: [.init(field: field, problem: "would leave \(id) below 0 (it has \(stock))")])
            case .overLimit(let stock):
                throw ProblemDetails.invalid(
                    [.init(field: field, problem: "would take \(id) over \(CatalogStore.maxStock) units (it has \(stock))")], what: "The change")
            }
        }
    }

    /// `GET /api/v1/products/{id}/stock/history?limit=&cursor=`: the product's stock changes,
    /// newest first: adjustments (with who and why), and each saga's reservation and release.
    @Sendable func history(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try Self.productID(context)
        let parameters = request.uri.queryParameters
        var problems: [ProblemDetails.FieldProblem] = []
        let limit = Self.limit(parameters.get("limit"), problems: &problems)
        var cursor: HistoryCursor?
        if let text = parameters.get("cursor") {
            cursor = HistoryCursor(text)
            if cursor == nil { problems.append(.init(field: "cursor", problem: "must be the nextCursor of the page before")) }
        }
        guard problems.isEmpty else { throw ProblemDetails.invalid(problems, what: "The query") }
        guard let history = try await store.history(id, after: cursor, limit: limit) else { throw Self.noProduct(id) }
        return try jsonResponse(history)
    }

    // MARK: Shared

    static func productID(_ context: BasicRequestContext) throws -> String { try pathIdentifier(context) }

    static func noProduct(_ id: String) -> ProblemDetails { .notFound("no product \(id)") }

    static func limit(_ text: String?, problems: inout [ProblemDetails.FieldProblem]) -> Int {
        pageLimit(text, default: 50, problems: &problems)
    }
}
