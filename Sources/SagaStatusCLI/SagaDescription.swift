import CheckoutContracts
import SagaCore

/// `saga-status describe`: a saga definition as people read it — a table of its steps (what runs
/// where, how it is undone, how long it may take, what kind of step it is) with how many sagas wait
/// on each step now, or a Mermaid flowchart of the same.
public enum SagaDescription {
    /// The table. `waiting`: the stats' sagas in flight by step and phase, or `nil` when the order
    /// service could not be asked (the column then shows `-`).
    public static func table(_ definition: SagaDefinition, waiting: [SagaStatsView.Waiting]?) -> String {
        let pivot = definition.pivotIndex.map { definition.steps[$0].name } ?? "none"
        var rows = [["STEP", "KIND", "PARTICIPANT", "COMMAND", "COMPENSATION", "TIMEOUT", "ATTEMPTS", "IN FLIGHT"]]
        for (index, step) in definition.steps.enumerated() {
            rows.append([
                step.name + (step.skippable ? " (optional)" : ""),
                kind(definition.kind(ofStepAt: index)),
                step.participant,
                step.command,
                step.compensation ?? "-",
                duration(step.timeoutMilliseconds),
                "\(step.retry.attempts)",
                inFlight(step.name, waiting),
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        let lines = rows.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? text : text + String(repeating: " ", count: widths[column] - text.count)
            }.joined(separator: "  ")
        }
        let header = "\(definition.name) v\(definition.version): \(definition.steps.count) steps, pivot \(pivot)"
        let legend = """
            compensable: undone, newest first, when a later step fails · pivot: the last step that may fail the saga ·
            retriable: after the pivot, retried until it succeeds, never undone
            """
        return ([header, ""] + lines + ["", legend]).joined(separator: "\n")
    }

    /// A Mermaid flowchart: the steps in order to COMPLETED; from each step that may fail, a dashed
    /// edge to the compensations of the steps before it, newest first, to COMPENSATED.
    public static func mermaid(_ definition: SagaDefinition) -> String {
        func id(_ name: String) -> String { "s_" + String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" }) }
        func undo(_ name: String) -> String { "u_" + id(name).dropFirst(2) }
        var lines = ["flowchart LR", "  start([checkout]) --> \(id(definition.steps[0].name))"]
        for (index, step) in definition.steps.enumerated() {
            let shape = definition.kind(ofStepAt: index) == .pivot ? "{{\"%@\"}}" : "[\"%@\"]"
            let label = "\(step.name)<br/>\(step.participant): \(step.command)"
            lines.append("  \(id(step.name))" + shape.replacingOccurrences(of: "%@", with: label))
            let next = index + 1 < definition.steps.count ? id(definition.steps[index + 1].name) : "done([COMPLETED])"
            lines.append("  \(id(step.name)) --> \(next)")
        }
        let undoable = definition.steps.filter { $0.compensation != nil }
        for step in undoable {
            lines.append("  \(undo(step.name))[\"undo \(step.name)<br/>\(step.participant): \(step.compensation!)\"]")
        }
        // A failure (or a timeout) at step i undoes the undoable steps before it, newest first. A
        // step after the pivot never fails the saga: only an operator compensates from there.
        for (index, step) in definition.steps.enumerated() {
            let retriable = definition.kind(ofStepAt: index) == .retriable
            let before = definition.steps[..<index].filter { $0.compensation != nil }
            let target = before.last.map { undo($0.name) } ?? "compensated([COMPENSATED])"
            lines.append("  \(id(step.name)) -. \(retriable ? "operator compensates" : "fails") .-> \(target)")
        }
        for (position, step) in undoable.enumerated() {
            let next = position > 0 ? undo(undoable[position - 1].name) : "compensated([COMPENSATED])"
            lines.append("  \(undo(step.name)) --> \(next)")
        }
        return lines.joined(separator: "\n")
    }

    static func kind(_ kind: StepKind) -> String {
        switch kind {
        case .compensable: "compensable"
        case .pivot: "pivot"
        case .retriable: "retriable"
        }
    }

    static func duration(_ milliseconds: Int) -> String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    static func inFlight(_ step: String, _ waiting: [SagaStatsView.Waiting]?) -> String {
        guard let waiting else { return "-" }
        let commands = waiting.filter { $0.step == step && $0.phase == "command" }.map(\.count).reduce(0, +)
        let undoing = waiting.filter { $0.step == step && $0.phase == "compensation" }.map(\.count).reduce(0, +)
        return undoing > 0 ? "\(commands) (+\(undoing) undoing)" : "\(commands)"
    }
}
