import Synchronization

/// The deliveries received and not yet taken, shared by a consumer's handlers: a handler that
/// comes back for work takes everything that arrived meanwhile (up to a bound), so under load one
/// transaction and one commit serve many messages (group commit), and when idle a message is taken
/// alone at once.
final class DeliveryBuffer<Delivery: Sendable>: Sendable {
    private struct State {
        var waiting: [Delivery] = []  // at most the consumers' prefetch
        var takers: [(continuation: CheckedContinuation<[Delivery]?, Never>, preferred: Bool)] = []
        var finished = false
    }

    private let state = Mutex(State())

    /// Adds a delivery, handing it straight to a taker that waits: a preferred one first.
    func append(_ delivery: Delivery) {
        let taker = state.withLock { state -> CheckedContinuation<[Delivery]?, Never>? in
            if !state.takers.isEmpty {
                return state.takers.remove(at: state.takers.firstIndex { $0.preferred } ?? 0).continuation
            }
            if !state.finished { state.waiting.append(delivery) }
            return nil
        }
        taker?.resume(returning: [delivery])
    }

    /// No more deliveries: takers get `nil`, and what is still waiting is left unacknowledged for
    /// the broker to deliver again.
    func finish() {
        let takers = state.withLock { state -> [CheckedContinuation<[Delivery]?, Never>] in
            state.finished = true
            state.waiting.removeAll()
            defer { state.takers.removeAll() }
            return state.takers.map(\.continuation)
        }
        for taker in takers { taker.resume(returning: nil) }
    }

    /// At least one and at most `limit` deliveries, in arrival order, waiting for the first if
    /// none is there (before the takers that are not `preferred`); `nil` once finished.
    func take(upTo limit: Int, preferred: Bool = false) async -> [Delivery]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[Delivery]?, Never>) in
            let taken = state.withLock { state -> [Delivery]?? in
                if state.finished { return .some(nil) }
                if state.waiting.isEmpty {
                    state.takers.append((continuation, preferred))
                    return .none
                }
                let count = min(limit, state.waiting.count)
                defer { state.waiting.removeFirst(count) }
                return .some(Array(state.waiting.prefix(count)))
            }
            if let taken { continuation.resume(returning: taken) }
        }
    }
}
