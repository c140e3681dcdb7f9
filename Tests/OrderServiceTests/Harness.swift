import AMQP
import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Messaging
@testable import OrderService
import SagaCore
import Testing
import Synchronization

/// The order service's engine and REST API over an ``InMemorySagaStore``, with the five
/// participants played by the test: no server, no broker.
struct Harness {
    static let sagas = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sagas")

    let store: InMemorySagaStore
    let engine: SagaEngine
    let metrics = OrderServiceMetrics()
    let app: Application<RouterResponder<BasicRequestContext>>
    /// The operations `app` serves, as `METHOD /path/{param}` (the contract test compares them).
    let routes: Set<String>

    let admission: Admission
    /// The API keys the service knows, by id, as `api_keys` would hold them.
    let apiKeys = KeyTable()
    /// A key with both scopes and no rate limit, which `client.authorized(harness.adminKey)` sends.
    private(set) var adminKey = ""

    /// `maxInFlight`: admission control's limit (0: none); `rateLimit`: api.rateLimit; `tokens`:
    /// how JWT bearer tokens are checked (none: they are refused).
    init(
        maxInFlight: Int = 0, rateLimit: Int = 100, tokens: TokenVerifier? = nil, cancelWindow: Duration = .seconds(86_400),
        _ change: (inout SagaDefinition) -> Void = { _ in }) throws {
        var definition = try SagaDefinitionRegistry.load(name: CreateOrderSaga.name, directory: Self.sagas)
        change(&definition)
        let cancelDefinition = try SagaDefinitionRegistry.load(name: CreateOrderSaga.cancelName, directory: Self.sagas)
        store = InMemorySagaStore(definitions: [definition, cancelDefinition])
        engine = SagaEngine(
            store: store, definition: definition, cancelDefinition: cancelDefinition, outboxWritten: { _ in }, metrics: metrics,
            logger: Logger(label: "test"), cancelWindow: cancelWindow)
        admission = Admission(limit: maxInFlight, store: store, logger: Logger(label: "test"))
        let keys = apiKeys
        let router = buildRouter(
            engine: engine, store: store, metrics: metrics, admission: admission,
            authenticator: Authenticator(defaultRateLimit: rateLimit, cacheFor: .zero, tokens: tokens) { id, _ in keys.rows.withLock { $0[id] } },
            broker: { .up }, bodyLimit: 256 * 1024, retryAfter: 5)
        routes = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        app = Application(router: router)
        adminKey = addKey([.checkout, .admin], rateLimit: 0)
    }

    /// A new key with `scopes` (its `rateLimit`: `nil` for the service's), as `ordersaga api-key create` makes one.
    @discardableResult
    func addKey(_ scopes: Set<Scope>, rateLimit: Int? = nil, name: String = "test") -> String {
        let key = APIKey.generate()
        apiKeys.rows.withLock {
            $0[key.id] = APIKeyRecord(
                id: key.id, name: name, scopes: scopes.sorted(), rateLimit: rateLimit, createdAt: "2026-11-25T00:00:00Z", revokedAt: nil,
                hash: key.hash)
        }
        return key.text
    }

    /// Revokes the key, as `ordersaga api-key revoke` does.
    func revoke(_ text: String) {
        guard let key = APIKey(text) else { return }
        apiKeys.rows.withLock { $0[key.id]?.revokedAt = "2026-11-25T00:00:01Z" }
    }

    /// POSTs a checkout as the holder of `key` would; what it answered, as text.
    static func post(
        _ client: some TestClientProtocol, key: String, cart: String = "cart-ada-1", customer: String = "cust-ada", idempotencyKey: String? = nil
    ) async throws -> (HTTPResponse.Status, String) {
        var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(key)"]
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return try await client.execute(
            uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: checkout(cart: cart, customer: customer))
        ) { ($0.status, String(buffer: $0.body)) }
    }

    /// POSTs a checkout that must be accepted.
    static func place(_ client: some TestClientProtocol, key: String, cart: String = "cart-ada-1", customer: String = "cust-ada") async throws -> Accepted {
        let (status, body) = try await post(client, key: key, cart: cart, customer: customer)
        #expect(status == .accepted, "\(body)")
        return try JSONDecoder().decode(Accepted.self, from: Data(body.utf8))
    }

    final class KeyTable: Sendable {
        let rows = Mutex<[String: APIKeyRecord]>([:])
    }

    /// How a participant answers a command.
    enum Answer { case succeed, refuse, ignore }

    /// Publishes what the outbox holds and answers each command, until none is left; returns the
    /// commands in the order they were answered or ignored (`step:phase`).
    @discardableResult
    func play(_ answer: (IncomingCommand) -> Answer = { _ in .succeed }) async throws -> [String] {
        var seen: [String] = []
        while true {
            let commands = store.publishAll().filter { $0.exchange == SagaTopology.commandsExchange }
            if commands.isEmpty { return seen }
            for message in commands {
                let command = try Self.command(message)
                seen.append("\(command.step):\(command.phase.rawValue)")
                switch answer(command) {
                case .ignore: continue
                case .succeed: try await reply(to: command, .succeeded(Self.result(of: command)))
                case .refuse: try await reply(to: command, .refused(reason: "refused", detail: "the test said no"))
                }
            }
        }
    }

    /// Sends the participant's reply to `command` to the engine, as the broker would deliver it.
    func reply(to command: IncomingCommand, _ outcome: CommandOutcome) async throws {
        let reply = try SagaMessages.reply(to: command, outcome: outcome)
        let properties = AMQPProperties(
            messageID: reply.messageID, correlationID: reply.correlationID, type: reply.type, contentType: "application/json",
            headers: reply.headers)
        try await engine.handle([try IncomingReply(properties: properties, body: Array(reply.body.utf8))])
    }

    /// A command as its participant reads it.
    static func command(_ message: OutboxMessage) throws -> IncomingCommand {
        guard case .string(let step)? = message.headers["step"], case .string(let phaseText)? = message.headers["phase"],
              let phase = StepPhase(rawValue: phaseText), case .int(let attempt)? = message.headers["attempt"]
        else { throw MalformedMessage("not a saga command: \(message.messageID)") }
        return IncomingCommand(
            type: message.type, sagaID: message.correlationID ?? "", step: step, phase: phase, attempt: Int(attempt), body: message.body)
    }

    /// What each participant answers, built from the contracts: 10.00 a unit, 10 % off.
    static func result(of command: IncomingCommand) throws -> any Encodable & Sendable {
        switch command.type {
        case CatalogContract.reserveInventory:
            let request = try command.payload(CatalogContract.ReserveInventory.self)
            let lines = request.items.map { CatalogContract.Reserved.Line(productId: $0.productId, quantity: $0.quantity, unitPriceCents: 1000) }
            return CatalogContract.Reserved(lines: lines, subtotalCents: lines.reduce(0) { $0 + $1.quantity * 1000 })
        case PromotionContract.redeemCoupon:
            let request = try command.payload(PromotionContract.RedeemCoupon.self)
            return PromotionContract.Redeemed(couponCode: request.couponCode, discountCents: request.subtotalCents / 10)
        case IdentityContract.chargePayment:
            let request = try command.payload(IdentityContract.ChargePayment.self)
            return IdentityContract.Charged(chargeId: command.sagaID, amountCents: request.amountCents)
        case CartContract.convertCart:
            return CartContract.Converted(cartId: try command.payload(CartContract.ConvertCart.self).cartId)
        case NotificationContract.sendConfirmation, NotificationContract.sendCancellation:
            return NotificationContract.Sent(notificationId: 1)
        default:
            return Empty()  // a compensation
        }
    }

    /// A valid checkout body.
    static func checkout(coupon: String? = "WELCOME10", cart: String = "cart-ada-1", customer: String = "cust-ada") -> String {
        let coupon = coupon.map { #""couponCode": "\#($0)","# } ?? ""
        return """
            {"customerId": "\(customer)", "cartId": "\(cart)", "items": [{"productId": "sku-mug", "quantity": 2}], \(coupon)
             "paymentCardId": "card-ada-visa",
             "shippingAddress": {"line1": "1 Main St", "city": "London", "postalCode": "N1", "country": "GB"}}
            """
    }
}

/// The JSON the API answers, as tests read it.
struct Accepted: Decodable { var orderId: String; var orderNumber: Int; var sagaId: String }
struct Problem: Decodable {
    struct Field: Decodable { var field: String; var problem: String }
    var status: Int
    var detail: String
    var errors: [Field]?
}
