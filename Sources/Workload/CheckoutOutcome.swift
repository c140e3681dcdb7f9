/// How one generated checkout is meant to end: it succeeds, or one step of create_order refuses it.
public enum CheckoutOutcome: String, Sendable, CaseIterable, Hashable {
    case succeeds
    /// Out of stock: the catalog refuses it; nothing to undo.
    case failsAtReserveInventory = "fails-at-reserve-inventory"
    /// An expired coupon: the stock is released.
    case failsAtValidateCoupon = "fails-at-validate-coupon"
    /// An unknown card: coupon and stock are released.
    case failsAtPayment = "fails-at-payment"
    /// An unknown cart: the charge is refunded, coupon and stock released.
    case failsAtCartConvert = "fails-at-cart-convert"

    public static let failures = allCases.filter { $0 != .succeeds }
}

extension CheckoutOutcome {
    /// The step that refuses it, or `nil` for one that succeeds.
    public var step: String? {
        switch self {
        case .succeeds: nil
        case .failsAtReserveInventory: "reserve-inventory"
        case .failsAtValidateCoupon: "validate-coupon"
        case .failsAtPayment: "payment"
        case .failsAtCartConvert: "cart-convert"
        }
    }

    /// The outcome of a checkout refused by `step`.
    public init?(failingAt step: String) {
        guard let outcome = Self.failures.first(where: { $0.step == step }) else { return nil }
        self = outcome
    }
}
