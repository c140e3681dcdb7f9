import Foundation
import Synchronization

/// Named places on the hot paths where a process can be made to die on purpose, as `kill -9`
/// would kill it there: fault tests (`scripts/chaos`) prove that a restart finishes the work and
/// nothing happens twice. Off unless the `fault.crashAt` setting (`ORDERSAGA_FAULT_CRASH_AT`)
/// names one; then reaching it costs one atomic load.
public enum CrashPoint: String, CaseIterable, Sendable {
    /// A saga input committed (new state and outbox rows), before the relay was woken to publish.
    case sagaAfterCommit = "saga.after-commit"
    /// A saga input that left the saga COMPENSATING committed: mid-compensation.
    case sagaMidCompensation = "saga.mid-compensation"
    /// The relay sent a batch and waits for the broker's confirms.
    case relayConfirmWait = "relay.confirm-wait"
    /// The broker confirmed a batch; the outbox rows are not marked published yet.
    case relayAfterPublish = "relay.after-publish"
    /// A consumer's handler committed (its effect and inbox row), before the delivery is acked.
    case consumerBeforeAck = "consumer.before-ack"

    /// Whether this is the armed point.
    public var isArmed: Bool {
        let index = CrashPoint.armed.load(ordering: .relaxed)
        return index >= 0 && CrashPoint.allCases[index] == self
    }

    /// Dies here (SIGKILL, no clean-up) if this is the armed point and its count is reached.
    @inline(__always)
    public func reach() {
        guard isArmed else { return }
        if CrashPoint.remaining.subtract(1, ordering: .relaxed).newValue <= 0 {
            FileHandle.standardError.write(Data("crash point \(rawValue) reached: dying as kill -9 would (fault.crashAt)\n".utf8))
            kill(getpid(), SIGKILL)
        }
    }

    /// Arms the point `text` names, `point` or `point:N` (die the Nth time it is reached); an
    /// empty text disarms. Throws a message naming every point for anything else.
    public static func arm(_ text: String) throws {
        guard !text.isEmpty else {
            armed.store(-1, ordering: .relaxed)
            return
        }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let index = allCases.firstIndex(where: { $0.rawValue == parts[0] }),
              let count = parts.count == 2 ? Int(parts[1]) : 1, count >= 1
        else {
            throw CrashPointError(
                "fault.crashAt is \"\(text)\"; expected POINT or POINT:N (N ≥ 1) with a POINT of: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        remaining.store(count, ordering: .relaxed)
        armed.store(index, ordering: .relaxed)
    }

    private static let armed = Atomic<Int>(-1)
    private static let remaining = Atomic<Int>(0)
}

public struct CrashPointError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
