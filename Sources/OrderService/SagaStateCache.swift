import Foundation
import SagaCore
import Synchronization

/// The state and data of the sagas in flight that this process wrote last, each with the version
/// its row had after that write, so that the next input for a saga need not decode them again
/// (they were a tenth of the order service's CPU).
///
/// Never trusted on its own: a load still locks the saga's row and reads its `version`, and takes
/// the state and data from here only when the row's version is the one remembered. Another
/// instance's write raises the version (a write that raises nothing wrote what was there), so a
/// copy another process made stale is never used. A copy is remembered only after its
/// transaction committed; one whose commit failed stays the older version's copy, which the row's
/// version then tells apart.
///
/// Bounded: two generations of at most `capacity / 2` sagas each; when the newer fills, the older
/// is dropped. A saga that ended is forgotten (an operator's retry loads it whole).
final class SagaStateCache: Sendable {
    struct Entry: Sendable, Equatable {
        var version: Int
        var state: SagaState
        var data: CreateOrderData
    }

    private struct Generations {
        var newer: [UUID: Entry] = [:]
        var older: [UUID: Entry] = [:]
    }

    private let generations = Mutex(Generations())
    private let loadsFromCopy = Atomic(0)
    let capacity: Int

    init(capacity: Int = 20_000) {
        self.capacity = max(2, capacity)
    }

    /// The copy of the saga's state and data remembered, if any.
    func entry(_ id: UUID) -> Entry? {
        generations.withLock { $0.newer[id] ?? $0.older[id] }
    }

    /// Counts a load that took its state and data from here (the tests read it); no lock on the
    /// step's path.
    func hit() {
        loadsFromCopy.add(1, ordering: .relaxed)
    }

    /// Loads that took their state and data from here since the process started.
    var hits: Int { loadsFromCopy.load(ordering: .relaxed) }

    /// How many sagas it holds.
    var count: Int { generations.withLock { $0.newer.count + $0.older.count } }

    /// Remembers what a committed transaction wrote: each saga's copy at its new version, and
    /// nothing of sagas that ended.
    func remember(_ written: [UUID: Entry]) {
        guard !written.isEmpty else { return }
        generations.withLock { generations in
            for (id, entry) in written {
                generations.older[id] = nil
                if entry.state.status.isFinal {
                    generations.newer[id] = nil
                    continue
                }
                generations.newer[id] = entry
                if generations.newer.count >= capacity / 2 {
                    generations.older = generations.newer
                    generations.newer = [:]
                }
            }
        }
    }
}
