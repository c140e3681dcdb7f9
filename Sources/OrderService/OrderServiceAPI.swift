import AMQP
import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Messaging
import SagaCore

/// The REST API: checkout, orders, sagas, health and readiness. It talks to the engine and the store, never to SQL.
struct OrderServiceAPI: Sendable {
    let engine: SagaEngine
    let store: any SagaStore
    let admission: Admission
    /// Who is calling, and whether they may (``Authenticator``).
    let authenticator: Authenticator
    /// Where a checkout by cart reads its cart; `nil`: such a checkout answers 503.
    let carts: CartLookup?
    /// The Idempotency-Keys of checkouts being answered now.
    let keysInFlight = KeysInFlight()
    /// Whether the broker connection is up (`/health`, `/ready`).
    let broker: @Sendable () -> AMQPConnectionStatus
    let metrics: OrderServiceMetrics
    /// The largest checkout body, in bytes.
    let bodyLimit: Int
    /// How often a request that follows a saga (its event stream, `Prefer: wait`) reads it again.
    var pollInterval: Duration = .milliseconds(200)

    func addRoutes(to router: Router<BasicRequestContext>) {
        // A span per API request (not per probe or scrape), child of the caller's `traceparent`
        // if it sent one: a checkout's saga is part of the request's trace (``SagaTracing``).
        let api = router.group("api/v1").add(middleware: TracingMiddleware())
        api.post("checkout", use: checkout)
        api.get("credential", use: credential)
        api.get("orders", use: orders)
        api.get("orders/by-number/:number", use: orderByNumber)
        api.get("orders/:id", use: order)
        api.post("orders/:id/cancel", use: cancel)
        api.get("sagas", use: sagas)
        api.get("sagas/stats", use: stats)
        api.get("sagas/:id", use: saga)
        api.get("sagas/:id/events", use: events)
        for name in OperatorAction.names {
            api.post("sagas/:id/\(name)") { request, context in try await operate(name, request, context: context) }
        }
        router.get("health", use: health)
        router.get("ready", use: ready)
        router.get("metrics", use: prometheus)
    }

    /// `GET /metrics`: Prometheus' text format.
    @Sendable func prometheus(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try await metrics.render(store: store))))
    }

    // MARK: Checkout

    /// `POST /api/v1/checkout`: 202 with the order and saga ids and a Location; nothing is written
    /// for an invalid request. An `Idempotency-Key` header makes a retried request answer the same.
    /// With `Prefer: wait=N`, 201 with the order as it ended when its saga ends within N seconds.
    @Sendable func checkout(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout])
        let contentType = request.headers[.contentType]
        guard let contentType, Self.isJSON(contentType) else {
            metrics.checkoutsRefused.increment()
            throw ProblemDetails.unsupportedMediaType(contentType)
        }
        let buffer = try await request.body.collect(upTo: bodyLimit)
        let form: CheckoutValidation.Form
        do {
            form = try CheckoutValidation.validate(Array(buffer.readableBytesView))
        } catch {
            metrics.checkoutsRefused.increment()
            throw error
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key, !(1...200).contains(key.utf8.count) || !key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            throw ProblemDetails.invalid(
                [.init(field: "Idempotency-Key", problem: "must be 1 to 200 visible ASCII characters (a UUID, say)")], what: "The request")
        }
        guard admission.admits() else {
            metrics.checkoutsShed.increment()
            throw ProblemDetails.overloaded(limit: admission.limit, retryAfter: 1)
        }
        // A retry that arrives while the first request with its key is still being answered
        // (waiting on `Prefer: wait`, say) is told so, rather than made to wait or answered twice.
        if let key {
            guard keysInFlight.claim(caller.principal, key) else {
                throw ProblemDetails(
                    status: .conflict, type: "https://ordersaga.dev/problems/idempotency-key-in-flight",
                    title: "A request with this Idempotency-Key is in progress",
                    detail: "the first request with this Idempotency-Key has not been answered yet; retry after it has",
                    errors: [.init(field: "Idempotency-Key", problem: "is in use by a request still in progress")])
            }
        }
        defer { if let key { keysInFlight.release(caller.principal, key) } }
        let accepted: SagaEngine.Accepted
        do {
            accepted = try await start(form, owner: caller.principal, idempotencyKey: key, authorization: request.headers[.authorization])
        } catch is IdempotencyConflict {
            throw ProblemDetails(
                status: .unprocessableContent, type: "https://ordersaga.dev/problems/idempotency-key-reused",
                title: "Idempotency-Key reused", detail: "this Idempotency-Key was used with a different checkout",
                errors: [.init(field: "Idempotency-Key", problem: "was used with a different checkout")])
        }
        if !accepted.replayed { admission.started() }
        let orderID = accepted.orderID.uuidString.lowercased()
        let sagaID = accepted.sagaID.uuidString.lowercased()
        var headers = HTTPFields()
        headers[.location] = "/api/v1/orders/\(orderID)"
        // `Prefer: wait=N`: the order as it ended, if its saga ends within N seconds.
        if let wait = Self.preferredWait(request.headers[HTTPField.Name("Prefer")!]) {
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                if let order = try await store.order(.id(accepted.orderID), owner: nil), SagaStatus(rawValue: order.sagaStatus)?.isFinal == true {
                    headers[HTTPField.Name("Preference-Applied")!] = "wait=\(wait)"
                    return try json(order, status: .created, headers: headers)
                }
                guard ContinuousClock.now < deadline else { break }
                try await Task.sleep(for: pollInterval)
            }
        }
        return try json(
            CheckoutAccepted(
                orderId: orderID, orderNumber: accepted.orderNumber, sagaId: sagaID, status: "PENDING",
                links: .init(order: "/api/v1/orders/\(orderID)", saga: "/api/v1/sagas/\(sagaID)")),
            status: .accepted, headers: headers)
    }

    /// Starts the checkout's saga. A checkout by cart reads the cart first, with the caller's own
    /// credential, unless its Idempotency-Key shows it is a retry of one already placed (whose
    /// cart is converted by now): that answers what the first one placed.
    private func start(_ form: CheckoutValidation.Form, owner: String, idempotencyKey key: String?, authorization: String?) async throws -> SagaEngine.Accepted {
        switch form {
        case .lines(let checkout):
            return try await engine.start(checkout, owner: owner, idempotencyKey: key, request: try Self.fingerprint(checkout))
        case .cart(let request):
            let fingerprint = try Self.fingerprint(request)
            if let key, let earlier = try await store.claimed(idempotencyKey: key, owner: owner, request: fingerprint) {
                guard case .replayed(let orderID, let sagaID, let number) = earlier else { throw IdempotencyConflict() }
                metrics.checkoutsReplayed.increment()
                return SagaEngine.Accepted(orderID: orderID, sagaID: sagaID, orderNumber: number, replayed: true)
            }
            guard let carts else {
                throw ProblemDetails(
                    status: .serviceUnavailable, type: "https://ordersaga.dev/problems/cart-service-unavailable",
                    title: "The cart service is unavailable", detail: "this order service has no cart service to read carts from (checkout.cartServiceUrl)")
            }
            let checkout = try CheckoutValidation.checkout(request, cart: try await carts.cart(request.cartId, authorization: authorization))
            return try await engine.start(checkout, owner: owner, idempotencyKey: key, request: fingerprint)
        }
    }

    /// The seconds a `Prefer` header's `wait=N` asks for (RFC 7240), at most ``maxWait``; `nil`
    /// without one. A preference the server does not understand is ignored, as the RFC says.
    static func preferredWait(_ prefer: String?) -> Int? {
        guard let prefer else { return nil }
        for token in prefer.split(separator: ",") {
            let parts = token.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0].lowercased() == "wait", let seconds = parseDigits(parts[1], maxDigits: 4), seconds > 0 else { continue }
            return min(seconds, maxWait)
        }
        return nil
    }

    /// The longest a checkout waits for its saga (`Prefer: wait=N`).
    static let maxWait = 60

    struct CheckoutAccepted: Codable {
        struct Links: Codable { var order: String; var saga: String }
        var orderId: String
        var orderNumber: Int
        var sagaId: String
        var status: String
        var links: Links
    }

    /// The checkout as canonical JSON (sorted keys): equal checkouts give equal text.
    private static func fingerprint(_ checkout: SagaEngine.Checkout) throws -> String {
        try canonical(CheckoutFingerprint(checkout))
    }

    /// A checkout by cart as requested (not the lines the cart had), so a retry matches it.
    private static func fingerprint(_ request: CartCheckout) throws -> String {
        "cart:" + (try canonical(request))
    }

    private static func canonical(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private struct CheckoutFingerprint: Encodable {
        let customerId, cartId, paymentCardId: String
        let couponCode: String?
        let items: [CreateOrderData.Item]
        let shippingAddress: CreateOrderData.Address
        init(_ c: SagaEngine.Checkout) {
            customerId = c.customerId; cartId = c.cartId; paymentCardId = c.paymentCardId
            couponCode = c.couponCode; items = c.items; shippingAddress = c.shippingAddress
        }
    }

    // MARK: Credentials

    /// `GET /api/v1/credential`: who the request's credential says it is, what it may do and its
    /// rate limit; any valid credential may ask. What to call to check a key, and what another
    /// service can ask with the credential it was shown.
    @Sendable func credential(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [])
        return try json(CredentialView(
            principal: caller.principal, kind: caller.kind,
            scopes: caller.scopes.sorted().map(\.rawValue), rateLimit: authenticator.rateLimit(of: caller)))
    }

    // MARK: Orders

    /// `GET /api/v1/orders/{id}`.
    /// A checkout credential reads only the orders it placed: another's answers 404, as a missing one.
    @Sendable func order(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let id = try uuidParameter(context, what: "an order")
        guard let order = try await store.order(.id(id), owner: caller.orderOwner) else { throw ProblemDetails.notFound("no order \(id.uuidString.lowercased())") }
        return try json(order)
    }

    /// `GET /api/v1/orders/by-number/{number}`: as `GET /api/v1/orders/{id}`, by the number people read out.
    @Sendable func orderByNumber(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let text = context.parameters.get("number") ?? ""
        guard let number = parseDigits(text, maxDigits: 15) else {
            throw ProblemDetails.invalid([.init(field: "number", problem: "\"\(text)\" is not an order number (digits, 1001 or more)")], what: "The request")
        }
        guard let order = try await store.order(.number(number), owner: caller.orderOwner) else { throw ProblemDetails.notFound("no order number \(number)") }
        return try json(order)
    }

    /// `GET /api/v1/orders?customer=cust-ada&status=CONFIRMED&createdFrom=2026-11-01T00:00:00Z&createdBefore=…&limit=20`:
    /// newest first, a page at a time (`nextCursor` of one page is `cursor` of the next). A checkout
    /// credential lists only the orders it placed.
    @Sendable func orders(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        var problems: [ProblemDetails.FieldProblem] = []
        let parameters = request.uri.queryParameters
        var query = OrderQuery(owner: caller.orderOwner)
        if let text = parameters.get("customer") {
            if (1...100).contains(text.unicodeScalars.count) { query.customer = text } else {
                problems.append(.init(field: "customer", problem: "must be a customer id of 1 to 100 characters"))
            }
        }
        if let text = parameters.get("status") {
            if Self.orderStatuses.contains(text) { query.status = text } else {
                problems.append(.init(field: "status", problem: "must be one of \(Self.orderStatuses.joined(separator: ", "))"))
            }
        }
        for (field, keyPath) in [("createdFrom", \OrderQuery.createdFrom), ("createdBefore", \OrderQuery.createdBefore)] {
            guard let text = parameters.get(field) else { continue }
            if let microseconds = Self.timestamp(text) { query[keyPath: keyPath] = microseconds } else {
                problems.append(.init(field: field, problem: "must be an RFC 3339 time with its zone, like 2026-11-25T09:30:00Z"))
            }
        }
        if let from = query.createdFrom, let before = query.createdBefore, from >= before {
            problems.append(.init(field: "createdBefore", problem: "must be later than createdFrom"))
        }
        query.limit = Self.limit(parameters.get("limit"), default: query.limit, problems: &problems)
        if let text = parameters.get("cursor") {
            query.after = ListCursor(text)
            if query.after?.order != .orders { problems.append(.init(field: "cursor", problem: "is not a nextCursor this list gave")) }
        }
        if !problems.isEmpty { throw ProblemDetails.invalid(problems, what: "The query") }
        return try json(try await store.orders(query))
    }

    static let orderStatuses = ["PENDING", "CONFIRMED", "CANCELLED", "FAILED"]

    /// A list's `limit`: a page of 1 to 500 (`fallback` without one); a bad one is a problem.
    static func limit(_ text: String?, default fallback: Int, problems: inout [ProblemDetails.FieldProblem]) -> Int {
        pageLimit(text, default: fallback, problems: &problems)
    }

    /// An RFC 3339 time (`2026-11-25T09:30:00Z`, `…:00.250+01:00`) in microseconds since 1970.
    static func timestamp(_ text: String) -> Int64? {
        guard let date = JSONFields.rfc3339(text) else { return nil }
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        guard microseconds >= 0, microseconds < 1e17 else { return nil }
        return Int64(microseconds)
    }

    // MARK: Sagas

    /// `GET /api/v1/sagas/{id}`: status, steps and the timeline.
    @Sendable func saga(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        return try await sagaResponse(context)
    }

    private func sagaResponse(_ context: BasicRequestContext) async throws -> Response {
        let id = try uuidParameter(context, what: "a saga")
        guard let saga = try await store.saga(id) else { throw ProblemDetails.notFound("no saga \(id.uuidString.lowercased())") }
        var headers = HTTPFields()
        headers[.eTag] = "\"\(saga.version)\""
        return try json(saga, headers: headers)
    }

    /// `GET /api/v1/sagas/{id}/events`: the timeline as server-sent events until the saga ends
    /// (``SagaEventStream``); `Last-Event-ID` resumes after the line it names.
    @Sendable func events(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try uuidParameter(context, what: "a saga")
        var lastEventID: Int?
        if let text = request.headers[HTTPField.Name("Last-Event-ID")!] {
            guard let value = parseDigits(text, maxDigits: 9) else {
                throw ProblemDetails.invalid(
                    [.init(field: "Last-Event-ID", problem: "must be the id of a timeline event this stream sent (a whole number)")],
                    what: "The request")
            }
            lastEventID = value
        }
        guard let saga = try await store.saga(id) else { throw ProblemDetails.notFound("no saga \(id.uuidString.lowercased())") }
        return SagaEventStream(store: store, interval: pollInterval).response(for: id, first: saga, after: lastEventID)
    }

    /// `POST /api/v1/sagas/{id}/retry|skip|compensate|abort`: an operator's input. 200 with the
    /// saga as it is after; 409 when its state does not allow the action; 412 when `If-Match`
    /// names a version the saga has moved on from (someone else acted first: look again).
    func operate(_ name: String, _ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let id = try uuidParameter(context, what: "a saga")
        if let contentType = request.headers[.contentType], !Self.isJSON(contentType) {
            throw ProblemDetails.unsupportedMediaType(contentType)
        }
        var expectedVersion: Int?
        if let ifMatch = request.headers[.ifMatch] {
            guard let version = Self.version(ifMatch: ifMatch) else {
                throw ProblemDetails.invalid([.init(field: "If-Match", problem: "must be a saga version as its ETag gave it (\"7\")")], what: "The request")
            }
            expectedVersion = version
        }
        let buffer = try await request.body.collect(upTo: bodyLimit)
        let (action, note) = try OperatorRequestValidation.validate(Array(buffer.readableBytesView), action: name)
        let sagaText = id.uuidString.lowercased()
        do {
            _ = try await engine.operate(id, action, note: note, expectedVersion: expectedVersion)
        } catch is SagaNotFound {
            throw ProblemDetails.notFound("no saga \(sagaText)")
        } catch let refusal as OperatorRefusal {
            throw ProblemDetails(
                status: .conflict, type: "https://ordersaga.dev/problems/saga-action-not-allowed",
                title: "The saga's state does not allow \(name)", detail: "\(refusal.description); nothing was changed")
        } catch let changed as SagaChanged {
            throw ProblemDetails(
                status: .preconditionFailed, type: "https://ordersaga.dev/problems/saga-changed",
                title: "The saga changed since you read it",
                detail: "saga \(sagaText) is at version \(changed.current), not \(changed.expected): someone or something acted first; "
                    + "read it again and decide; nothing was changed")
        } catch let invalid as InvalidSkipResult {
            throw ProblemDetails.invalid(
                [.init(field: "result", problem: "is not the reply data of step \(invalid.step): \(invalid.problem)")], what: "The skip request")
        }
        return try await sagaResponse(context)
    }

    /// The version an `If-Match` names: `"7"`, `W/"7"` or `7` (1 to 9 digits).
    static func version(ifMatch: String) -> Int? {
        var text = Substring(ifMatch)
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = text.dropFirst().dropLast() }
        return parseDigits(text, maxDigits: 9)
    }

    /// `GET /api/v1/sagas?status=RUNNING&type=create_order&step=payment&olderThan=1h&limit=20`: newest
    /// first. With `stuckFor=30s`: the RUNNING and COMPENSATING sagas unchanged for at least that
    /// long, longest first. A page at a time: `nextCursor` of one page is `cursor` of the next.
    @Sendable func sagas(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        var problems: [ProblemDetails.FieldProblem] = []
        let parameters = request.uri.queryParameters
        var query = SagaQuery()
        if let text = parameters.get("status") {
            query.status = SagaStatus(rawValue: text)
            if query.status == nil {
                problems.append(.init(field: "status", problem: "must be one of \(SagaStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        query.limit = Self.limit(parameters.get("limit"), default: query.limit, problems: &problems)
        for (field, keyPath) in [("type", \SagaQuery.type), ("step", \SagaQuery.step)] {
            guard let text = parameters.get(field) else { continue }
            if Self.isName(text) { query[keyPath: keyPath] = text } else {
                problems.append(.init(field: field, problem: "must be a name of 1 to 100 letters, digits, -, _ or ."))
            }
        }
        if let text = parameters.get("olderThan") {
            query.olderThan = Self.window(text)
            if query.olderThan == nil { problems.append(.init(field: "olderThan", problem: Self.windowProblem)) }
        }
        if let text = parameters.get("stuckFor") {
            query.idleFor = Self.window(text)
            if query.idleFor == nil { problems.append(.init(field: "stuckFor", problem: Self.windowProblem)) }
            if let status = query.status, status != .running, status != .compensating {
                problems.append(.init(field: "status", problem: "with stuckFor must be RUNNING or COMPENSATING: only those can be stuck"))
            }
        }
        if let text = parameters.get("cursor") {
            query.after = ListCursor(text)
            if query.after == nil || query.after?.order != query.order {
                problems.append(.init(field: "cursor", problem: "is not a nextCursor this list gave (with the same stuckFor or without)"))
            }
        }
        if !problems.isEmpty { throw ProblemDetails.invalid(problems, what: "The query") }
        return try json(try await store.sagas(query))
    }

    /// A saga type's or step's name, as definitions write them.
    static func isName(_ text: String) -> Bool {
        (1...100).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    /// `GET /api/v1/sagas/stats?window=1h`: the sagas started in the window (default 1h, at most 30d).
    @Sendable func stats(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let label = request.uri.queryParameters.get("window").map { String($0) } ?? "1h"
        guard let window = Self.window(label) else {
            throw ProblemDetails.invalid([.init(field: "window", problem: Self.windowProblem)], what: "The query")
        }
        return try json(try await store.stats(window: window, label: label))
    }

    /// How far back a saga query looks (`stuckFor`, `window`): a duration from 1 s to 30 d.
    static func window(_ text: String) -> Duration? {
        guard let value = parseDuration(text), value >= .seconds(1), value <= .seconds(30 * 86_400) else { return nil }
        return value
    }

    static let windowProblem = "must be a duration like 90s, 15m, 1h or 7d, from 1s to 30d"

    // MARK: Health

    /// `GET /health`: liveness. 200 while the process serves requests, with what it can reach;
    /// an orchestrator restarts a process whose liveness fails, which an outage would not mend.
    @Sendable func health(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let (database, broker) = await dependencies()
        return try json(["status": "ok", "database": database ? "up" : "down"].merging(broker.probeFields) { $1 })
    }

    /// `GET /ready`: readiness. 200 when the database answers and the broker takes messages, else
    /// 503 (the broker down, or blocking publishes in a memory or disk alarm): send traffic
    /// elsewhere until both are back.
    @Sendable func ready(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let (database, broker) = await dependencies()
        let ready = database && broker.isUp
        return try json(
            ["status": ready ? "ready" : "not ready", "database": database ? "up" : "down"].merging(broker.probeFields) { $1 },
            status: ready ? .ok : .serviceUnavailable)
    }

    private func dependencies() async -> (database: Bool, broker: AMQPConnectionStatus) {
        (await store.isAvailable(), broker())
    }

    // MARK: Helpers

    /// `application/json` or a `+json` type, with any parameters (`; charset=utf-8`).
    static func isJSON(_ contentType: String) -> Bool { JSONFields.isJSON(contentType) }

    func uuidParameter(_ context: BasicRequestContext, what: String) throws -> UUID {
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else {
            throw ProblemDetails.invalid([.init(field: "id", problem: "\"\(text)\" is not \(what) id (a UUID)")], what: "The request")
        }
        return id
    }

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        try jsonResponse(value, status: status, headers: headers)
    }
}
