import Synchronization

/// The deliveries received and not yet taken, shared by a consumer's handlers: a handler that
/// comes back for work takes everything that arrived meanwhile (up to a bound), so under load one
/// transaction and one commit serve many messages (group commit), and when idle a message is taken
/// alone at once.
///
/// A delivery that finds handlers waiting wakes one, which takes what is there when it runs, not
/// only that delivery: the ones that arrived while it woke up go into its batch too, and wake
/// no other handler unless there are more than the woken ones take.
final class DeliveryBuffer<Delivery: Sendable>: Sendable {
    private struct Taker {
        /// Resumed with `true` when a delivery woke it, `false` when the buffer finished.
        let wake: CheckedContinuation<Bool, Never>
        let limit: Int
        let preferred: Bool
    }

    private struct State {
        var waiting: [Delivery] = []  // at most the consumers' prefetch
        var takers: [Taker] = []
        /// How many of `waiting` the takers woken and not yet running will take.
        var promised = 0
        var finished = false

        /// Wakes a waiting taker, a preferred one first, when more deliveries wait than the
        /// woken ones will take.
        mutating func takerToWake() -> Taker? {
            guard waiting.count > promised, !takers.isEmpty else { return nil }
            let taker = takers.remove(at: takers.firstIndex { $0.preferred } ?? 0)
            promised += taker.limit
            return taker
        }
    }

    private let state = Mutex(State())

    /// Deliveries waiting for a taker.
    var pending: Int { state.withLock { $0.waiting.count } }

    /// Adds a delivery, waking a taker that waits if the ones already woken will not take it.
    func append(_ delivery: Delivery) {
        let taker = state.withLock { state -> Taker? in
            guard !state.finished else { return nil }
            state.waiting.append(delivery)
            return state.takerToWake()
        }
        taker?.wake.resume(returning: true)
    }

    /// No more deliveries: takers get `nil`, and what is still waiting is left unacknowledged for
    /// the broker to deliver again.
    func finish() {
        let takers = state.withLock { state -> [Taker] in
            state.finished = true
            state.waiting.removeAll()
            defer { state.takers.removeAll() }
            return state.takers
        }
        for taker in takers { taker.wake.resume(returning: false) }
    }

    /// At least one and at most `limit` deliveries, in arrival order, waiting for the first if
    /// none is there (woken before the takers that are not `preferred`); `nil` once finished.
    func take(upTo limit: Int, preferred: Bool = false) async -> [Delivery]? {
        var woken = false
        while true {
            // More than this taker's bound may wait: the rest wake a taker of their own.
            let (taken, other) = state.withLock { state -> ([Delivery]??, Taker?) in
                if woken { state.promised -= limit }
                if state.finished { return (.some(nil), nil) }
                if state.waiting.isEmpty { return (.none, nil) }
                let count = min(limit, state.waiting.count)
                let taken = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
                return (.some(taken), state.takerToWake())
            }
            other?.wake.resume(returning: true)
            if let taken { return taken }
            woken = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.finished || !state.waiting.isEmpty { return true }  // arrived meanwhile
                    state.takers.append(Taker(wake: continuation, limit: limit, preferred: preferred))
                    return false
                }
                if now { continuation.resume(returning: false) }
            }
        }
    }
}
