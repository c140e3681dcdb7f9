import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Messaging
import SagaCore

extension OrderServiceAPI {
    /// `POST /api/v1/orders/{id}/cancel`, optionally with `{"reason": "…"}`:
    /// - while the order's saga runs, it compensates what it did, newest first (202; the order ends
    ///   CANCELLED);
    /// - once the order is CONFIRMED, for `api.cancelWindow` after, a cancel_order saga refunds and
    ///   undoes it (202; the order ends CANCELLED and the customer gets a notice);
    /// - asked again while either runs, or once the order is CANCELLED, the same answer (idempotent).
    ///
    /// A FAILED order, a CONFIRMED one past the window, or one whose cancellation was parked
    /// answers 409 and nothing changes. A checkout credential cancels only its own orders; another's
    /// answers 404.
    @Sendable func cancel(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.checkout, .admin])
        let id = try uuidParameter(context, what: "an order")
        if let contentType = request.headers[.contentType], !Self.isJSON(contentType) {
            throw ProblemDetails.unsupportedMediaType(contentType)
        }
        let reason = try CancelRequestValidation.reason(Array(try await request.body.collect(upTo: bodyLimit).readableBytesView))
        let note = OperatorNote(actor: caller.principal, reason: reason ?? "cancelled by the customer")
        // At most twice: the saga may move between the read and the cancel (a reply landed).
        for _ in 0..<2 {
            guard let order = try await store.order(.id(id), owner: caller.orderOwner), let sagaID = UUID(uuidString: order.sagaId) else {
                throw ProblemDetails.notFound("no order \(id.uuidString.lowercased())")
            }
            let location: HTTPFields = [.location: "/api/v1/orders/\(order.id)"]
            if order.status == "CANCELLED" { return try json(order, headers: location) }
            if let cancellation = order.cancellation {
                guard cancellation.sagaStatus == SagaStatus.running.rawValue else {
                    throw Self.notCancellable(
                        "order \(order.number)'s cancellation is \(cancellation.sagaStatus): an operator settles it (saga-status show \(cancellation.sagaId)); nothing was changed")
                }
                return try json(order, status: .accepted, headers: location)
            }
            switch SagaStatus(rawValue: order.sagaStatus) {
            case .running?:
                do {
                    _ = try await engine.operate(sagaID, .compensate, note: note, expectedVersion: nil)
                } catch is OperatorRefusal {
                    continue
                }
                return try await cancelled(id, owner: caller.orderOwner, status: .accepted)
            case .compensating?:
                return try json(order, status: .accepted, headers: location)
            case .compensated?:
                return try json(order, headers: location)
            case .completed? where order.status == "CONFIRMED":
                switch try await engine.cancel(order: id, owner: caller.orderOwner, reason: note.reason ?? "cancelled by the customer") {
                case .started, .existing:
                    return try await cancelled(id, owner: caller.orderOwner, status: .accepted)
                case .unknownOrder:
                    throw ProblemDetails.notFound("no order \(id.uuidString.lowercased())")
                case .notConfirmed:
                    continue
                case .windowPassed(let confirmedAt):
                    throw Self.notCancellable(
                        engine.cancelWindow == .zero
                            ? "order \(order.number) is CONFIRMED, and this service cancels no confirmed order (api.cancelWindow is 0s); nothing was changed"
                            : "order \(order.number) was confirmed at \(confirmedAt); it could be cancelled for \(formatDuration(engine.cancelWindow)) after that (api.cancelWindow); nothing was changed")
                }
            case .completed?, .failed?, nil:
                throw Self.notCancellable(
                    "order \(order.number) is \(order.status): an operator settles it (saga-status show \(order.sagaId)); nothing was changed")
            }
        }
        throw ProblemDetails(
            status: .conflict, type: "https://ordersaga.dev/problems/order-changed", title: "The order changed while being cancelled",
            detail: "its saga moved on twice while the cancellation was asked; read the order and try again; nothing was changed")
    }

    private static func notCancellable(_ detail: String) -> ProblemDetails {
        ProblemDetails(
            status: .conflict, type: "https://ordersaga.dev/problems/order-not-cancellable", title: "The order cannot be cancelled",
            detail: detail)
    }

    private func cancelled(_ id: UUID, owner: String?, status: HTTPResponse.Status) async throws -> Response {
        guard let order = try await store.order(.id(id), owner: owner) else { throw ProblemDetails.notFound("no order \(id.uuidString.lowercased())") }
        return try json(order, status: status, headers: [.location: "/api/v1/orders/\(order.id)"])
    }
}

/// A cancel request's body: nothing, `{}`, or `{"reason": "…"}` (at most 500 characters).
enum CancelRequestValidation {
    static func reason(_ body: [UInt8]) throws(ProblemDetails) -> String? {
        guard !body.isEmpty else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw .malformed("the body must be a JSON object, like {\"reason\": \"ordered twice\"}")
        }
        var problems: [ProblemDetails.FieldProblem] = []
        for key in object.keys.sorted() where key != "reason" { problems.append(.init(field: key, problem: "is not a field of a cancel request")) }
        let reason = OperatorRequestValidation.text(object, "reason", limit: 500, required: false) {
            problems.append(.init(field: $0, problem: $1))
        }
        guard problems.isEmpty else { throw .invalid(problems, what: "The cancel request") }
        return reason
    }
}
