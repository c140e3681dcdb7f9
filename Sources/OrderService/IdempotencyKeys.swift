import Foundation
import Synchronization

/// The `Idempotency-Key` rule, in one place for every store: the first checkout with a key claims
/// it in the transaction that creates its order; a later one with the same request answers what
/// the first created; one with another request is refused. A request is compared as its canonical
/// JSON (``OrderServiceAPI``'s fingerprint), so key order and spacing do not matter.
enum IdempotencyKeys {
    /// What a key already claimed by `stored` answers for `request`.
    static func answer(stored: (request: String, orderID: UUID, sagaID: UUID, number: Int), request: String) -> StartOutcome {
        stored.request == request ? .replayed(orderID: stored.orderID, sagaID: stored.sagaID, number: stored.number) : .conflict
    }
}

/// The Idempotency-Keys of the checkouts this instance is answering now, each in its caller's own
/// keys: a second request with one answers 409 instead of waiting on the first.
final class KeysInFlight: Sendable {
    private let keys = Mutex<Set<String>>([])

    /// Whether `key` was free for `owner` (it is now taken).
    func claim(_ owner: String, _ key: String) -> Bool {
        keys.withLock { $0.insert(owner + "\n" + key).inserted }
    }

    func release(_ owner: String, _ key: String) {
        _ = keys.withLock { $0.remove(owner + "\n" + key) }
    }
}
