import Foundation
import Messaging
import SagaCore

/// The create_order saga's data and the typed code next to `sagas/create_order.yaml`: which steps
/// a checkout skips, how each command's payload is built from the data, and how each reply's data
/// is merged back.
public struct CreateOrderData: Codable, Sendable, Equatable {
    public struct Item: Codable, Sendable, Equatable {
        public var productId: String
        public var quantity: Int
        /// From the catalog's reply, never from the client.
        public var unitPriceCents: Int?
    }

    public struct Address: Codable, Sendable, Equatable {
        public var line1: String
        public var city: String
        public var postalCode: String
        public var country: String
    }

    public var orderId: UUID
    public var customerId: String
    public var cartId: String
    public var couponCode: String?
    public var paymentCardId: String
    public var shippingAddress: Address
    public var items: [Item]
    public var subtotalCents: Int?
    public var discountCents: Int?
    public var chargeId: String?

    public var totalCents: Int? { subtotalCents.map { $0 - (discountCents ?? 0) } }
}

public enum CreateOrderSaga {
    public static let name = "create_order"

    enum Step {
        static let reserveInventory = "reserve-inventory"
        static let validateCoupon = "validate-coupon"
        static let payment = "payment"
        static let cartConvert = "cart-convert"
        static let notify = "notify"
    }

    /// Steps this checkout does not need.
    static func skippedSteps(_ data: CreateOrderData) -> Set<String> {
        data.couponCode == nil ? [Step.validateCoupon] : []
    }

    /// The JSON payload of `message` for this saga.
    static func payload(for message: StepMessage, data: CreateOrderData) throws -> String {
        let orderID = data.orderId.uuidString.lowercased()
        let body: any Encodable
        switch (message.step, message.phase) {
        case (Step.reserveInventory, .command):
            body = ReserveInventory(orderId: orderID, items: data.items.map { .init(productId: $0.productId, quantity: $0.quantity) })
        case (Step.validateCoupon, .command):
            body = RedeemCoupon(orderId: orderID, couponCode: data.couponCode ?? "", subtotalCents: try required(data.subtotalCents, "subtotal"))
        case (Step.payment, .command):
            body = ChargePayment(orderId: orderID, customerId: data.customerId, cardId: data.paymentCardId, amountCents: try required(data.totalCents, "total"))
        case (Step.cartConvert, .command):
            body = ConvertCart(orderId: orderID, customerId: data.customerId, cartId: data.cartId)
        case (Step.notify, .command):
            body = SendConfirmation(orderId: orderID, customerId: data.customerId, totalCents: try required(data.totalCents, "total"))
        case (_, .compensation):
            body = Compensate(orderId: orderID)
        default:
            throw CreateOrderSagaError("no payload for step \(message.step)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }

    /// Merges a succeeded command reply's data into the saga's data.
    static func merge(reply body: [UInt8], step: String, into data: inout CreateOrderData) throws {
        switch step {
        case Step.reserveInventory:
            let reserved = try decode(Reserved.self, body)
            var prices: [String: Int] = [:]
            for line in reserved.lines { prices[line.productId] = line.unitPriceCents }
            for index in data.items.indices { data.items[index].unitPriceCents = prices[data.items[index].productId] }
            data.subtotalCents = reserved.subtotalCents
        case Step.validateCoupon:
            data.discountCents = try decode(Redeemed.self, body).discountCents
        case Step.payment:
            data.chargeId = try decode(Charged.self, body).chargeId
        default:
            break
        }
    }

    private static func decode<T: Decodable & Sendable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do {
            guard let data = try JSONDecoder().decode(ReplyBody<T>.self, from: Data(body)).data else {
                throw CreateOrderSagaError("reply has no data")
            }
            return data
        } catch let error as CreateOrderSagaError {
            throw MalformedMessage(error.description)
        } catch {
            throw MalformedMessage("reply data is not a valid \(T.self): \(error)")
        }
    }

    private static func required(_ value: Int?, _ what: String) throws -> Int {
        guard let value else { throw CreateOrderSagaError("the saga has no \(what) yet") }
        return value
    }

    // The participants' message contracts, as this service writes and reads them.
    struct ReserveInventory: Encodable {
        struct Line: Encodable { var productId: String; var quantity: Int }
        var orderId: String
        var items: [Line]
    }
    struct RedeemCoupon: Encodable { var orderId: String; var couponCode: String; var subtotalCents: Int }
    struct ChargePayment: Encodable { var orderId: String; var customerId: String; var cardId: String; var amountCents: Int }
    struct ConvertCart: Encodable { var orderId: String; var customerId: String; var cartId: String }
    struct SendConfirmation: Encodable { var orderId: String; var customerId: String; var totalCents: Int }
    struct Compensate: Encodable { var orderId: String }
    struct Reserved: Decodable, Sendable {
        struct Line: Decodable, Sendable { var productId: String; var quantity: Int; var unitPriceCents: Int }
        var lines: [Line]
        var subtotalCents: Int
    }
    struct Redeemed: Decodable, Sendable { var discountCents: Int }
    struct Charged: Decodable, Sendable { var chargeId: String }
}

struct CreateOrderSagaError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
