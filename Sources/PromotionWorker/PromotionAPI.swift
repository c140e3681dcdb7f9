import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird

/// The promotion service's REST API, on the promotion worker's own port, over its own database:
/// coupons (a percentage or a fixed amount off, a minimum subtotal, a limit in all and per
/// customer, a validity window) and their redemptions (read-only). Any valid credential reads one
/// coupon by its code (a shop shows what it gives); listing coupons, changing them and reading
/// their redemptions need `admin`.
public struct PromotionAPI: ServiceAPI {
    let store: PromotionStore
    let authenticator: any CallerAuthenticating
    let bodyLimit: Int

    public init(store: PromotionStore, authenticator: any CallerAuthenticating, bodyLimit: Int) {
        self.store = store
        self.authenticator = authenticator
        self.bodyLimit = bodyLimit
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("coupons", use: list)
        api.post("coupons", use: create)
        api.get("coupons/:code", use: get)
        api.patch("coupons/:code", use: update)
        api.get("coupons/:code/redemptions", use: redemptions)
    }

    static let maxCount = 100_000_000
    static let maxCents = 100_000_000

    /// `GET /api/v1/coupons?limit=&cursor=`: coupons by code, a page at a time.
    @Sendable func list(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let (coupons, next) = try await keyedPage(request, isKey: Self.isCode, key: \Coupon.code, fetch: store.coupons)
        return try jsonResponse(CouponPage(coupons: coupons, nextCursor: next))
    }

    struct CouponPage: Codable {
        var coupons: [Coupon]
        var nextCursor: String?
    }

    /// A coupon code, as checkout takes it: 1 to 32 ASCII letters, digits, `-` or `_`.
    static func isCode(_ text: some StringProtocol) -> Bool {
        (1...32).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    static func codeParameter(_ context: BasicRequestContext) throws -> String {
        let code = context.parameters.get("code") ?? ""
        guard isCode(code) else {
            throw ProblemDetails.invalid([.init(field: "code", problem: "must be 1 to 32 ASCII letters, digits, - or _")], what: "The path")
        }
        return code
    }

    /// `POST /api/v1/coupons` `{"code", "percentOff" | "amountOffCents", "minSubtotalCents"?,
    /// "maxRedemptions", "maxPerCustomer"?, "startsAt"?, "expiresAt"}`: 201; 409 when the code exists.
    @Sendable func create(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(
            ["code", "percentOff", "amountOffCents", "minSubtotalCents", "maxRedemptions", "maxPerCustomer", "startsAt", "expiresAt"], of: "a coupon")
        var code = fields.object["code"] as? String
        if let text = code, Self.isCode(text) {} else {
            fields.problem("code", "must be 1 to 32 ASCII letters, digits, - or _")
            code = nil
        }
        let percent = fields.has("percentOff") ? fields.wholeNumber("percentOff", in: 1...100) : nil
        let amount = fields.has("amountOffCents") ? fields.wholeNumber("amountOffCents", in: 1...Self.maxCents) : nil
        if fields.has("percentOff") == fields.has("amountOffCents") {
            fields.problem("percentOff", "give either percentOff or amountOffCents")
        }
        let minimum = fields.has("minSubtotalCents") ? fields.wholeNumber("minSubtotalCents", in: 0...Self.maxCents) : 0
        let maxRedemptions = fields.wholeNumber("maxRedemptions", in: 0...Self.maxCount)
        let perCustomer = fields.has("maxPerCustomer") ? fields.wholeNumber("maxPerCustomer", in: 1...Self.maxCount) : nil
        let starts = fields.has("startsAt") ? fields.time("startsAt") : nil
        let expires = fields.time("expiresAt")
        if let starts, let expires, expires <= starts { fields.problem("expiresAt", "must be later than startsAt") }
        try fields.check(what: "The coupon")
        guard let code, let minimum, let maxRedemptions, let expires else { throw ProblemDetails.invalid(fields.problems, what: "The coupon") }
        let iso = ISO8601DateFormatter()
        do {
            let coupon = try await store.create(Coupon(
                code: code, percentOff: percent, amountOffCents: amount, minSubtotalCents: minimum, maxRedemptions: maxRedemptions,
                redeemedCount: 0, maxPerCustomer: perCustomer, startsAt: starts.map(iso.string(from:)), expiresAt: iso.string(from: expires),
                createdAt: ""))
            var headers = HTTPFields()
            headers[.location] = "/api/v1/coupons/\(code)"
            return try jsonResponse(coupon, status: .created, headers: headers)
        } catch PromotionRefusal.duplicate {
            throw ProblemDetails.duplicate("coupon", code, field: "code")
        }
    }

    /// `GET /api/v1/coupons/{code}`: the coupon; any valid credential.
    @Sendable func get(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [])
        let code = try Self.codeParameter(context)
        guard let coupon = try await store.coupon(code) else { throw Self.noCoupon(code) }
        return try jsonResponse(coupon)
    }

    /// `PATCH /api/v1/coupons/{code}` `{"expiresAt"?, "maxRedemptions"?}`: ends it sooner or
    /// later, or allows more or fewer redemptions (never fewer than it has: 409).
    @Sendable func update(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let code = try Self.codeParameter(context)
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["expiresAt", "maxRedemptions"], of: "a coupon's changes")
        let expires = fields.has("expiresAt") ? fields.time("expiresAt") : nil
        let maxRedemptions = fields.has("maxRedemptions") ? fields.wholeNumber("maxRedemptions", in: 0...Self.maxCount) : nil
        if !fields.has("expiresAt") && !fields.has("maxRedemptions") && fields.problems.isEmpty {
            fields.problem("expiresAt", "give expiresAt, maxRedemptions or both")
        }
        try fields.check(what: "The change")
        do {
            return try jsonResponse(try await store.update(code, expiresAt: expires.map(ISO8601DateFormatter().string(from:)), maxRedemptions: maxRedemptions))
        } catch PromotionRefusal.notFound {
            throw Self.noCoupon(code)
        } catch PromotionRefusal.belowRedeemed(let redeemed) {
            throw ProblemDetails(
                status: .conflict, type: "https://ordersaga.dev/problems/below-redeemed", title: "The coupon has more redemptions",
                detail: "coupon \(code) has \(redeemed) redemptions; nothing was changed",
                errors: [.init(field: "maxRedemptions", problem: "must be at least \(redeemed), the redemptions it has")])
        }
    }

    /// `GET /api/v1/coupons/{code}/redemptions?limit=`: newest first; read-only.
    @Sendable func redemptions(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let code = try Self.codeParameter(context)
        var problems: [ProblemDetails.FieldProblem] = []
        let limit = pageLimit(request.uri.queryParameters.get("limit"), default: 50, problems: &problems)
        guard problems.isEmpty else { throw ProblemDetails.invalid(problems, what: "The query") }
        guard let redemptions = try await store.redemptions(of: code, limit: limit) else { throw Self.noCoupon(code) }
        return try jsonResponse(["redemptions": redemptions])
    }

    static func noCoupon(_ code: String) -> ProblemDetails { .notFound("no coupon \(code)") }
}
