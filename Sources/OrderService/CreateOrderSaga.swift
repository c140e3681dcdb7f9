import Foundation
import CheckoutContracts
import Messaging
import SagaCore

/// The data of an order's sagas and the typed code next to `sagas/create_order.yaml` and
/// `sagas/cancel_order.yaml`: which steps a checkout skips, how each command's payload is built
/// from the data, and how each reply's data is merged back.
public struct CreateOrderData: Codable, Sendable, Equatable {
    public typealias Item = OrderLine
    public typealias Address = ShippingAddress

    public var orderId: UUID
    /// The order's number, for people (absent from sagas started before it was kept here).
    public var orderNumber: Int?
    /// Who placed it (``Caller/principal``), for the order's events.
    public var owner: String?
    public var customerId: String
    public var cartId: String
    public var couponCode: String?
    public var paymentCardId: String
    public var shippingAddress: Address
    public var items: [Item]
    public var subtotalCents: Int?
    public var discountCents: Int?
    public var chargeId: String?
    /// A cancel_order saga's: the create_order saga whose effects it undoes (its data is a copy of
    /// that saga's, with this and ``cancelReason`` set).
    public var cancels: UUID?
    /// A cancel_order saga's: why the order was cancelled, for the notice and the event.
    public var cancelReason: String?

    public var totalCents: Int? { subtotalCents.map { $0 - (discountCents ?? 0) } }
}

public enum CreateOrderSaga {
    public static let name = "create_order"
    /// The saga that undoes a confirmed order (`sagas/cancel_order.yaml`); its data is a copy of
    /// the order's create_order data with ``CreateOrderData/cancels`` set.
    public static let cancelName = "cancel_order"

    /// The step a checkout without a coupon skips.
    static let couponStep = "validate-coupon"

    /// Steps this checkout does not need.
    static func skippedSteps(_ data: CreateOrderData) -> Set<String> {
        data.couponCode == nil ? [couponStep] : []
    }

    /// How each command's payload is built from the saga's data, by command name (the contract's,
    /// which `sagas/create_order.yaml` names). Every compensation's payload is ``Compensate``.
    static let payloads: [String: @Sendable (CreateOrderData) throws -> any Encodable & Sendable] = [
        CatalogContract.reserveInventory: { data in
            CatalogContract.ReserveInventory(
                orderId: data.orderIdText, items: data.items.map { .init(productId: $0.productId, quantity: $0.quantity) })
        },
        PromotionContract.redeemCoupon: { data in
            PromotionContract.RedeemCoupon(
                orderId: data.orderIdText, couponCode: data.couponCode ?? "", subtotalCents: try required(data.subtotalCents, "subtotal"),
                customerId: data.customerId)
        },
        IdentityContract.chargePayment: { data in
            IdentityContract.ChargePayment(
                orderId: data.orderIdText, customerId: data.customerId, cardId: data.paymentCardId,
                amountCents: try required(data.totalCents, "total"))
        },
        CartContract.convertCart: { data in
            CartContract.ConvertCart(orderId: data.orderIdText, customerId: data.customerId, cartId: data.cartId)
        },
        NotificationContract.sendConfirmation: { data in
            NotificationContract.SendConfirmation(
                orderId: data.orderIdText, orderNumber: data.orderNumber, customerId: data.customerId,
                totalCents: try required(data.totalCents, "total"))
        },
        // cancel_order's steps: create_order's compensations, naming the saga whose effects they undo.
        IdentityContract.refundPayment: undoing,
        CatalogContract.releaseInventory: undoing,
        PromotionContract.releaseCoupon: undoing,
        CartContract.restoreCart: undoing,
        NotificationContract.sendCancellation: { data in
            NotificationContract.SendCancellation(
                orderId: data.orderIdText, orderNumber: data.orderNumber, customerId: data.customerId,
                totalCents: try required(data.totalCents, "total"),
                reason: data.cancelReason ?? "cancelled")
        },
    ]

    /// A cancel_order step's payload: the compensation of the create_order saga it cancels.
    @Sendable private static func undoing(_ data: CreateOrderData) throws -> any Encodable & Sendable {
        guard let cancels = data.cancels else { throw CreateOrderSagaError("the saga cancels no create_order saga") }
        return Compensate(orderId: data.orderIdText, sagaId: cancels.uuidString.lowercased())
    }

    /// The JSON payload of `message` for this saga.
    static func payload(for message: StepMessage, data: CreateOrderData) throws -> String {
        let body: any Encodable
        switch message.phase {
        case .command:
            guard let build = payloads[message.type] else { throw CreateOrderSagaError("no payload for command \(message.type)") }
            body = try build(data)
        case .compensation:
            body = Compensate(orderId: data.orderIdText)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }

    /// Merges the data of a succeeded reply to `command` into the saga's data.
    static func merge(reply body: [UInt8], command: String, into data: inout CreateOrderData) throws {
        switch command {
        case CatalogContract.reserveInventory:
            let reserved = try decode(CatalogContract.Reserved.self, body)
            var prices: [String: Int] = [:]
            for line in reserved.lines { prices[line.productId] = line.unitPriceCents }
            for index in data.items.indices { data.items[index].unitPriceCents = prices[data.items[index].productId] }
            data.subtotalCents = reserved.subtotalCents
        case PromotionContract.redeemCoupon:
            data.discountCents = try decode(PromotionContract.Redeemed.self, body).discountCents
        case IdentityContract.chargePayment:
            data.chargeId = try decode(IdentityContract.Charged.self, body).chargeId
        default:
            break  // nothing the saga needs back
        }
    }

    /// Checks that every step and compensation of `definition` has a participant that handles it
    /// and, for a command, a payload builder here: a step added to the YAML but forgotten in code
    /// stops the service at start-up instead of dead-lettering at run time.
    static func check(_ definition: SagaDefinition, file: String, text: String?) throws {
        for step in definition.steps {
            let line = text.map { Self.line(of: step.name, in: $0) } ?? 0
            func problem(_ text: String) -> SagaDefinitionError {
                SagaDefinitionError(file: file, line: line, problem: "step \"\(step.name)\": \(text)")
            }
            guard let commands = CheckoutContracts.participants[step.participant] else {
                throw problem("no participant \"\(step.participant)\" in CheckoutContracts (one of: \(CheckoutContracts.participants.keys.sorted().joined(separator: ", ")))")
            }
            for command in [step.command] + (step.compensation.map { [$0] } ?? []) where !commands.contains(command) {
                throw problem("participant \(step.participant) handles no command \"\(command)\" (it handles: \(commands.sorted().joined(separator: ", ")))")
            }
            guard payloads[step.command] != nil else {
                throw problem("no payload builder for \"\(step.command)\" in CreateOrderSaga.payloads")
            }
        }
        if let coupon = definition.step(named: couponStep), !coupon.skippable {
            throw SagaDefinitionError(
                file: file, line: text.map { Self.line(of: couponStep, in: $0) } ?? 0,
                problem: "step \"\(couponStep)\" must be skippable: a checkout without a coupon skips it")
        }
    }

    /// The line of `- name: <step>` in the definition's text, or 0.
    private static func line(of step: String, in text: String) -> Int {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "- name: \(step)" || trimmed == "name: \(step)" { return index + 1 }
        }
        return 0
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
}

extension CreateOrderData {
    /// The order id as the participants see it: lower-case.
    var orderIdText: String { orderId.uuidString.lowercased() }
}

struct CreateOrderSagaError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
