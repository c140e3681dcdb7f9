import CheckoutContracts
import Foundation
import HTTPEdge

/// Reads a checkout request field by field, so that every problem names its field.
///
/// Two forms: with `items`, the lines are the request's and `customerId` is required; without,
/// the request checks a cart out (``CartCheckout``): its lines and customer are the cart's.
///
/// ```json
/// { "customerId": "cust-ada", "cartId": "cart-ada-1",
///   "items": [{ "productId": "sku-espresso", "quantity": 2 }],
///   "couponCode": "WELCOME10",
///   "paymentCardId": "card-ada-visa",
///   "shippingAddress": { "line1": "12 St James's Square", "city": "London", "postalCode": "SW1Y 4JH", "country": "GB" } }
/// ```
enum CheckoutValidation {
    static let maxItems = CartContract.maxLines
    static let maxQuantity = CartContract.maxQuantity
    static let fields: Set<String> = ["customerId", "cartId", "items", "couponCode", "paymentCardId", "shippingAddress"]
    static let addressFields: Set<String> = ["line1", "city", "postalCode", "country"]

    /// A checkout as requested: its lines given, or a cart's to read.
    enum Form: Equatable {
        case lines(SagaEngine.Checkout)
        case cart(CartCheckout)
    }

    /// The validated checkout, or every problem found.
    static func validate(_ body: [UInt8]) throws(ProblemDetails) -> Form {
        let object = try JSONFields.object(body)
        var problems: [ProblemDetails.FieldProblem] = []
        func problem(_ field: String, _ text: String) { problems.append(.init(field: field, problem: text)) }

        for key in object.keys.sorted() where !fields.contains(key) { problem(key, "is not a field of a checkout") }
        let byCart = object["items"] == nil
        let customerId = byCart && object["customerId"] == nil ? nil : identifier(object, "customerId", problem)
        let cartId = identifier(object, "cartId", problem)
        let paymentCardId = identifier(object, "paymentCardId", problem)
        var couponCode: String?
        if let value = object["couponCode"], !(value is NSNull) {
            if let text = value as? String, (1...32).contains(text.count),
               text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                couponCode = text
            } else {
                problem("couponCode", "must be 1 to 32 ASCII letters, digits, - or _, or be left out")
            }
        }

        var items: [CreateOrderData.Item] = []
        if byCart {
            // Checking a cart out: its lines are read from the cart service.
        } else if let value = object["items"] {
            if let list = value as? [Any], (1...maxItems).contains(list.count) {
                var seen = Set<String>()
                for (index, element) in list.enumerated() {
                    let path = "items[\(index)]"
                    guard let item = element as? [String: Any] else {
                        problem(path, "must be an object with productId and quantity")
                        continue
                    }
                    for key in item.keys.sorted() where key != "productId" && key != "quantity" {
                        problem("\(path).\(key)", "is not a field of an item (prices come from the catalog)")
                    }
                    let productId = identifier(item, "productId", problem, prefix: path + ".")
                    let quantity = wholeNumber(item["quantity"])
                    if quantity == nil || !(1...maxQuantity).contains(quantity!) {
                        problem("\(path).quantity", "must be a whole number from 1 to \(maxQuantity)")
                    }
                    if let productId, !seen.insert(productId).inserted {
                        problem("\(path).productId", "\(productId) is listed twice; give one line per product")
                    }
                    if let productId, let quantity { items.append(.init(productId: productId, quantity: quantity)) }
                }
            } else {
                problem("items", "must be a list of 1 to \(maxItems) items")
            }
        }

        var address: CreateOrderData.Address?
        if let value = object["shippingAddress"] {
            if let fields = value as? [String: Any] {
                for key in fields.keys.sorted() where !addressFields.contains(key) { problem("shippingAddress.\(key)", "is not a field of an address") }
                let line1 = text(fields, "line1", 200, problem, prefix: "shippingAddress.")
                let city = text(fields, "city", 100, problem, prefix: "shippingAddress.")
                let postalCode = text(fields, "postalCode", 20, problem, prefix: "shippingAddress.")
                var country: String?
                if let code = fields["country"] as? String, code.count == 2, code.allSatisfy({ $0.isASCII && $0.isUppercase }) {
                    country = code
                } else {
                    problem("shippingAddress.country", "must be a two-letter ISO 3166 code such as GB")
                }
                if let line1, let city, let postalCode, let country {
                    address = .init(line1: line1, city: city, postalCode: postalCode, country: country)
                }
            } else {
                problem("shippingAddress", "must be an object with line1, city, postalCode and country")
            }
        } else {
            problem("shippingAddress", "is required")
        }

        guard problems.isEmpty, let cartId, let paymentCardId, let address, byCart || customerId != nil else {
            throw .invalid(problems, what: "The checkout")
        }
        let request = CartCheckout(customerId: customerId, cartId: cartId, couponCode: couponCode, paymentCardId: paymentCardId, shippingAddress: address)
        return byCart ? .cart(request) : .lines(request.checkout(customerId: customerId!, items: items))
    }

    /// The checkout of `cart` as read from the cart service: its customer and lines, or every
    /// problem with it, named by the request's fields.
    static func checkout(_ request: CartCheckout, cart: CartView?) throws(ProblemDetails) -> SagaEngine.Checkout {
        func refuse(_ field: String, _ text: String) -> ProblemDetails { .invalid([.init(field: field, problem: text)], what: "The checkout") }
        guard let cart else { throw refuse("cartId", "there is no cart \(request.cartId) that this credential may check out") }
        guard cart.status == "ACTIVE" else { throw refuse("cartId", "cart \(request.cartId) is \(cart.status): it was checked out already") }
        guard !cart.items.isEmpty else { throw refuse("cartId", "cart \(request.cartId) is empty") }
        if let customer = request.customerId, customer != cart.customerId {
            throw refuse("customerId", "is not the customer of cart \(request.cartId) (\(cart.customerId))")
        }
        return request.checkout(customerId: cart.customerId, items: cart.items.map { .init(productId: $0.productId, quantity: $0.quantity) })
    }

    /// An id: 1 to 64 letters, digits, `-`, `_` or `.`.
    private static func identifier(_ object: [String: Any], _ key: String, _ problem: (String, String) -> Void, prefix: String = "") -> String? {
        guard let value = object[key] else {
            problem(prefix + key, "is required")
            return nil
        }
        guard let text = value as? String, JSONFields.isIdentifier(text) else {
            problem(prefix + key, "must be an id of 1 to 64 letters, digits, -, _ or .")
            return nil
        }
        return text
    }

    private static func text(_ object: [String: Any], _ key: String, _ maxLength: Int, _ problem: (String, String) -> Void, prefix: String) -> String? {
        // Counted in Unicode code points, as JSON Schema (openapi.yaml) counts them.
        guard let value = object[key] as? String, !value.allSatisfy(\.isWhitespace), value.unicodeScalars.count <= maxLength else {
            problem(prefix + key, "must be text of 1 to \(maxLength) characters")
            return nil
        }
        return value
    }

    private static func wholeNumber(_ value: Any?) -> Int? { JSONFields.wholeNumber(value) }
}

/// A checkout of a cart: everything but its lines and (optionally) its customer, which the cart gives.
struct CartCheckout: Equatable, Encodable {
    /// When given, it must be the cart's customer.
    var customerId: String?
    var cartId: String
    var couponCode: String?
    var paymentCardId: String
    var shippingAddress: CreateOrderData.Address

    func checkout(customerId: String, items: [CreateOrderData.Item]) -> SagaEngine.Checkout {
        SagaEngine.Checkout(
            customerId: customerId, cartId: cartId, items: items, couponCode: couponCode, paymentCardId: paymentCardId, shippingAddress: shippingAddress)
    }
}
