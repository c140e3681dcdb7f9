import CheckoutContracts
import Postgres

/// The rule every participant follows for its one effect per saga, kept in a table with
/// `saga_id` (primary key), `status`, `updated_at`:
///
/// - a repeated command (a retry, a new attempt) answers as the first one did, with no new effect;
/// - a compensation undoes the effect once; a repeated compensation does nothing;
/// - a compensation that arrives before its command (the command timed out, then came late)
///   records that, so the late command changes nothing and is refused as `compensated`;
/// - a compensation whose payload is not ``Compensate`` is malformed and changes nothing;
/// - a compensation another saga sends (cancel_order) undoes the effect of the saga its payload
///   names (``effectSagaID(of:)``), by the same rule.
public struct SagaEffectRecord: Sendable {
    /// The table's name: a constant of the worker's code, never input.
    let table: String
    /// The status of an effect in place (`RESERVED`).
    let done: String
    /// The status of an effect undone, or of one prevented (`RELEASED`).
    let undone: String

    public init(table: String, done: String, undone: String) {
        self.table = table
        self.done = done
        self.undone = undone
    }

    /// Runs a command or its compensation under the rule, inside the worker's transaction.
    /// - Parameters:
    ///   - compensating: whether `command` is the compensation.
    ///   - perform: the first time: do it, insert the `done` row, answer (or refuse, changing nothing).
    ///   - again: the answer for a command that was done before.
    ///   - undo: undo the effect in place of the saga it is given (``effectSagaID(of:)``); the row
    ///     is marked `undone` after it.
    public func handle(
        _ command: IncomingCommand,
        compensating: Bool,
        in transaction: PostgresConnection,
        perform: () throws -> CommandOutcome,
        again: () throws -> any Encodable & Sendable,
        undo: (_ sagaID: String) throws -> Void
    ) throws -> CommandOutcome {
        // A compensation's payload is ``Compensate``: one that is not is malformed (dead-lettered),
        // not applied. A command's handler reads its own.
        let sagaID = compensating ? try Self.effectSagaID(of: command) : command.sagaID
        let status = try transaction.query(
            "SELECT status FROM \(table) WHERE saga_id = $1 FOR UPDATE", [sagaID]).first?.string("status")
        if !compensating {
            switch status {
            case done?: return .succeeded(try again())
            case undone?: return .refused(reason: "compensated", detail: "\(command.step) was already compensated")
            default: return try perform()
            }
        }
        switch status {
        case done?:
            try undo(sagaID)
            try transaction.send("UPDATE \(table) SET status = $2, updated_at = now() WHERE saga_id = $1", [sagaID, undone])
        case undone?:
            break
        default:
            // Nothing was done: remember the compensation, so the late command does nothing.
            try transaction.send("INSERT INTO \(table) (saga_id, status) VALUES ($1, $2)", [sagaID, undone])
        }
        return .succeeded(Empty())
    }

    /// The saga whose effect a compensation undoes: the one its ``Compensate`` payload names, or
    /// the one sending it. Throws ``MalformedMessage`` when the payload is not a ``Compensate``.
    public static func effectSagaID(of compensation: IncomingCommand) throws -> String {
        try compensation.payload(Compensate.self).sagaId ?? compensation.sagaID
    }
}
