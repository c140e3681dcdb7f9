import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird

/// The identity service's REST API, on the identity worker's own port, over its own database:
/// customers (create, get, list, deactivate), their addresses, their payment cards (add with
/// expiry and limit, list masked, remove) and the charges and refunds on them (read-only).
/// Customers' data is personal: every route needs `admin`.
public struct IdentityAPI: ServiceAPI {
    let store: IdentityStore
    let authenticator: any CallerAuthenticating
    let bodyLimit: Int

    public init(store: IdentityStore, authenticator: any CallerAuthenticating, bodyLimit: Int) {
        self.store = store
        self.authenticator = authenticator
        self.bodyLimit = bodyLimit
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("customers", use: list)
        api.post("customers", use: create)
        api.get("customers/:id", use: get)
        api.post("customers/:id/deactivate", use: deactivate)
        api.get("customers/:id/addresses", use: addresses)
        api.post("customers/:id/addresses", use: addAddress)
        api.get("customers/:id/cards", use: cards)
        api.post("customers/:id/cards", use: addCard)
        api.delete("customers/:id/cards/:card", use: removeCard)
        api.get("customers/:id/charges", use: charges)
    }

    /// A new id when the client gives none: `<prefix>-<12 hex digits>`.
    static func newID(_ prefix: String) -> String {
        "\(prefix)-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
    }

    // MARK: Customers

    /// `GET /api/v1/customers?limit=&cursor=`: customers by id, a page at a time.
    @Sendable func list(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let (customers, next) = try await keyedPage(request, isKey: JSONFields.isIdentifier, key: \Customer.id, fetch: store.customers)
        return try jsonResponse(CustomerPage(customers: customers, nextCursor: next))
    }

    struct CustomerPage: Codable {
        var customers: [Customer]
        var nextCursor: String?
    }

    /// `POST /api/v1/customers` `{"id"?, "name", "email"}`: 201 with the customer (an id is made
    /// when none is given); 409 when the id is taken.
    @Sendable func create(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["id", "name", "email"], of: "a customer")
        let id = fields.has("id") ? fields.identifier("id") : Self.newID("cust")
        let name = fields.text("name", maxLength: 200)
        var email = fields.text("email", maxLength: 254)
        if let address = email, !Self.isEmail(address) {
            fields.problem("email", "must be an email address (name@example.com)")
            email = nil
        }
        try fields.check(what: "The customer")
        guard let id, let name, let email else { throw ProblemDetails.invalid(fields.problems, what: "The customer") }
        do {
            let customer = try await store.createCustomer(id: id, name: name, email: email)
            var headers = HTTPFields()
            headers[.location] = "/api/v1/customers/\(id)"
            return try jsonResponse(customer, status: .created, headers: headers)
        } catch IdentityRefusal.duplicate {
            throw Self.taken("customer", id)
        }
    }

    /// One `@`, something before it, a dot inside the domain after it, no white space or control
    /// characters.
    static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
            && !text.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
    }

    /// `GET /api/v1/customers/{id}`.
    @Sendable func get(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try pathIdentifier(context)
        guard let customer = try await store.customer(id) else { throw Self.noCustomer(id) }
        return try jsonResponse(customer)
    }

    /// `POST /api/v1/customers/{id}/deactivate`: the customer, inactive; their cards are refused
    /// at payment from now on (orders already paid are untouched). Asked again, the same.
    @Sendable func deactivate(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try pathIdentifier(context)
        do {
            return try jsonResponse(try await store.deactivate(id))
        } catch IdentityRefusal.noCustomer {
            throw Self.noCustomer(id)
        }
    }

    // MARK: Addresses

    /// `GET /api/v1/customers/{id}/addresses`.
    @Sendable func addresses(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try pathIdentifier(context)
        guard let addresses = try await store.addresses(of: id) else { throw Self.noCustomer(id) }
        return try jsonResponse(["addresses": addresses])
    }

    /// `POST /api/v1/customers/{id}/addresses` `{"id"?, "line1", "city", "postalCode", "country"}`: 201.
    @Sendable func addAddress(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let customer = try pathIdentifier(context)
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["id", "line1", "city", "postalCode", "country"], of: "an address")
        let id = fields.has("id") ? fields.identifier("id") : Self.newID("addr")
        let line1 = fields.text("line1", maxLength: 200)
        let city = fields.text("city", maxLength: 100)
        let postalCode = fields.text("postalCode", maxLength: 20)
        var country = fields.object["country"] as? String
        if let code = country, code.count == 2, code.allSatisfy({ $0.isASCII && $0.isUppercase }) {} else {
            fields.problem("country", "must be a two-letter ISO 3166 code such as GB")
            country = nil
        }
        try fields.check(what: "The address")
        guard let id, let line1, let city, let postalCode, let country else { throw ProblemDetails.invalid(fields.problems, what: "The address") }
        do {
            let address = try await store.addAddress(
                Address(id: id, line1: line1, city: city, postalCode: postalCode, country: country), to: customer)
            return try jsonResponse(address, status: .created)
        } catch IdentityRefusal.noCustomer {
            throw Self.noCustomer(customer)
        } catch IdentityRefusal.duplicate {
            throw Self.taken("address", id)
        }
    }

    // MARK: Cards

    /// `GET /api/v1/customers/{id}/cards`: the cards not removed, masked.
    @Sendable func cards(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try pathIdentifier(context)
        guard let cards = try await store.cards(of: id) else { throw Self.noCustomer(id) }
        return try jsonResponse(["cards": cards])
    }

    /// `POST /api/v1/customers/{id}/cards` `{"id"?, "number", "expires": "2031-12", "limitCents"}`:
    /// 201 with the card, masked. The number is checked (13 to 19 digits, Luhn) and only its brand
    /// and last four digits are kept. An expired card, or a deactivated customer: 422 / 409.
    @Sendable func addCard(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let customer = try pathIdentifier(context)
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(["id", "number", "expires", "limitCents"], of: "a card")
        let id = fields.has("id") ? fields.identifier("id") : Self.newID("card")
        var number = (fields.object["number"] as? String)?.filter { $0 != " " && $0 != "-" }
        if let digits = number, !Self.isCardNumber(digits) {
            number = nil
        }
        if number == nil { fields.problem("number", "must be a card number of 13 to 19 digits that passes the Luhn check") }
        var expires = fields.object["expires"] as? String
        if let text = expires, let problem = Self.expiryProblem(text, now: Date()) {
            fields.problem("expires", problem)
            expires = nil
        } else if expires == nil {
            fields.problem("expires", "must be the card's last valid month, as 2031-12")
        }
        let limit = fields.wholeNumber("limitCents", in: 0...10_000_000_000)
        try fields.check(what: "The card")
        guard let id, let number, let expires, let limit else { throw ProblemDetails.invalid(fields.problems, what: "The card") }
        do {
            let card = try await store.addCard(
                id: id, to: customer, brand: Self.brand(of: number), last4: String(number.suffix(4)), expires: expires, limitCents: limit)
            return try jsonResponse(card, status: .created)
        } catch IdentityRefusal.noCustomer {
            throw Self.noCustomer(customer)
        } catch IdentityRefusal.duplicate {
            throw Self.taken("card", id)
        } catch IdentityRefusal.inactive {
            throw ProblemDetails(
                status: .conflict, type: "https://ordersaga.dev/problems/customer-inactive", title: "The customer was deactivated",
                detail: "customer \(customer) was deactivated; a card cannot be added")
        }
    }

    /// 13 to 19 digits whose Luhn sum is a multiple of 10.
    static func isCardNumber(_ digits: String) -> Bool {
        guard (13...19).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        let sum = digits.reversed().enumerated().reduce(0) { sum, pair in
            let digit = Int(String(pair.element))!
            guard pair.offset % 2 == 1 else { return sum + digit }
            return sum + (digit * 2 > 9 ? digit * 2 - 9 : digit * 2)
        }
        return sum % 10 == 0
    }

    static func brand(of digits: String) -> String {
        let two = Int(digits.prefix(2)) ?? 0, four = Int(digits.prefix(4)) ?? 0
        if digits.hasPrefix("4") { return "visa" }
        if (51...55).contains(two) || (2221...2720).contains(four) { return "mastercard" }
        if two == 34 || two == 37 { return "amex" }
        return "card"
    }

    /// Why `text` is not a month the card is still valid in (`YYYY-MM`, this month or later), or `nil`.
    static func expiryProblem(_ text: String, now: Date) -> String? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 7, parts.count == 2, parts[0].count == 4, parts[1].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), (2000...2099).contains(year), (1...12).contains(month)
        else { return "must be the card's last valid month, as 2031-12" }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.dateComponents([.year, .month], from: now)
        guard year * 12 + month >= today.year! * 12 + today.month! else { return "is in the past: the card has expired" }
        return nil
    }

    /// `DELETE /api/v1/customers/{id}/cards/{card}`: 204; the card is kept for its charges and
    /// refused at payment from now on.
    @Sendable func removeCard(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let customer = try pathIdentifier(context)
        let card = try pathIdentifier(context, "card")
        do {
            try await store.removeCard(card, of: customer)
            return Response(status: .noContent)
        } catch IdentityRefusal.noCard {
            throw ProblemDetails.notFound("customer \(customer) has no card \(card)")
        }
    }

    // MARK: Charges

    /// `GET /api/v1/customers/{id}/charges?limit=`: the charges on the customer's cards, newest
    /// first: `CAPTURED`, or `REFUNDED`.
    @Sendable func charges(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try pathIdentifier(context)
        var problems: [ProblemDetails.FieldProblem] = []
        let limit = pageLimit(request.uri.queryParameters.get("limit"), default: 50, problems: &problems)
        guard problems.isEmpty else { throw ProblemDetails.invalid(problems, what: "The query") }
        guard let charges = try await store.charges(of: id, limit: limit) else { throw Self.noCustomer(id) }
        return try jsonResponse(["charges": charges])
    }

    // MARK: Shared

    static func noCustomer(_ id: String) -> ProblemDetails { .notFound("no customer \(id)") }

    static func taken(_ what: String, _ id: String) -> ProblemDetails { .duplicate(what, id) }
}
