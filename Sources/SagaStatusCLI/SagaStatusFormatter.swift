import Foundation
import Retry
import CheckoutContracts

/// Renders sagas for people: aligned columns, one fact per line.
public enum SagaStatusFormatter {
    public static func render(_ saga: SagaView, palette: Palette = .plain) -> String {
        var lines: [String] = []
        lines.append("saga     \(saga.id)")
        lines.append("order    \(saga.orderId)")
        lines.append("saga def \(saga.definition.name) v\(saga.definition.version)")
        lines.append("status   \(palette.word(saga.status))")
        if let reason = saga.failureReason { lines.append("reason   \(reason)") }
        if let deadline = saga.deadlineAt { lines.append("deadline \(deadline)") }
        lines.append("created  \(saga.createdAt)")
        lines.append("updated  \(saga.updatedAt)")
        lines.append("version  \(saga.version)")
        lines.append("")
        lines.append("STEPS")
        let nameWidth = saga.steps.map(\.name.count).max() ?? 0
        for step in saga.steps {
            var line = "  \(pad(step.name, nameWidth))  \(palette.word(step.status, width: 12))"
            if step.attempt > 0 { line += "  attempts \(step.attempt)" }
            if step.compensationAttempt > 0 { line += ", compensation attempts \(step.compensationAttempt)" }
            lines.append(trimmed(line))
        }
        if let data = saga.data {
            lines.append("")
            lines.append("PAYLOAD")
            lines.append(contentsOf: payload(data).split(separator: "\n", omittingEmptySubsequences: false).map { "  \($0)" })
        }
        lines.append("")
        lines.append("TIMELINE")
        let eventWidth = saga.timeline.map(\.event.count).max() ?? 0
        let stepWidth = saga.timeline.map { stepLabel($0).count }.max() ?? 0
        for entry in saga.timeline {
            // An operator's line says who: "by alice: worker redeployed".
            let detail = [entry.actor.map { "by \($0)" }, entry.detail].compactMap { $0 }.joined(separator: ": ")
            lines.append(trimmed("  \(entry.at)  \(palette.word(entry.event, width: eventWidth))  \(pad(stepLabel(entry), stepWidth))  \(detail)"))
        }
        return lines.joined(separator: "\n")
    }

    /// The saga's data as indented JSON, keys sorted.
    static func payload(_ data: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(data)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
    }

    /// A table: id, status, type, the step an unfinished saga waits on, its age, and when it last
    /// changed. `more`: the command that shows the next page, when there is one.
    public static func render(_ list: SagaListView, palette: Palette = .plain, now: Date = Date(), more: String? = nil) -> String {
        guard !list.sagas.isEmpty else { return "no sagas" }
        let stepWidth = max(4, list.sagas.map { ($0.step ?? "-").count }.max() ?? 0)
        let typeWidth = max(4, list.sagas.map { ($0.type ?? "-").count }.max() ?? 0)
        var lines = ["\(pad("SAGA", 36))  \(pad("STATUS", 12))  \(pad("TYPE", typeWidth))  \(pad("STEP", stepWidth))  \(pad("AGE", 6))  UPDATED"]
        for saga in list.sagas {
            lines.append(
                "\(pad(saga.id, 36))  \(palette.word(saga.status, width: 12))  \(pad(saga.type ?? "-", typeWidth))  \(pad(saga.step ?? "-", stepWidth))  "
                    + "\(pad(age(since: saga.createdAt, now: now), 6))  \(saga.updatedAt)")
        }
        if let more { lines.append("more: \(more)") }
        return lines.joined(separator: "\n")
    }

    /// From an API timestamp to `now`, as ``Duration/age`` writes it (`?` if it does not read).
    static func age(since timestamp: String, now: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = formatter.date(from: timestamp) else { return "?" }
        return Duration.seconds(Int64(now.timeIntervalSince(date))).age
    }

    /// `saga-status stats`: the counts, what the sagas in flight wait on, the durations.
    public static func render(_ stats: SagaStatsView) -> String {
        var lines = ["SAGAS STARTED IN THE LAST \(stats.window.uppercased()): \(stats.started)"]
        for status in ["RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED", "FAILED"] {
            lines.append("  \(pad(status, 13)) \(stats.byStatus[status] ?? 0)")
        }
        lines.append("")
        lines.append("IN FLIGHT, BY WHAT THEY WAIT ON")
        if stats.waiting.isEmpty { lines.append("  (none)") }
        let width = stats.waiting.map { $0.step.count + $0.phase.count + 3 }.max() ?? 0
        for waiting in stats.waiting {
            lines.append("  \(pad("\(waiting.step) (\(waiting.phase))", width)) \(waiting.count)")
        }
        lines.append("")
        lines.append(stats.ended.count == 0
            ? "ENDED  none yet"
            : "ENDED  \(stats.ended.count), creation to end p50 \(milliseconds(stats.ended.p50Ms)), p99 \(milliseconds(stats.ended.p99Ms))")
        return lines.map(trimmed).joined(separator: "\n")
    }

    /// `68 ms`, `1.4 s`, `3.2 min`.
    static func milliseconds(_ value: Double) -> String {
        if value < 1000 { return "\(Int(value.rounded())) ms" }
        if value < 60_000 { return "\((value / 100).rounded() / 10) s" }
        return "\((value / 6000).rounded() / 10) min"
    }

    /// One timeline line as `watch` prints it, in fixed columns (the lines come one at a time).
    public static func line(_ entry: SagaView.Entry, palette: Palette = .plain) -> String {
        let detail = [entry.actor.map { "by \($0)" }, entry.detail].compactMap { $0 }.joined(separator: ": ")
        return trimmed("  \(entry.at)  \(palette.word(entry.event, width: 20))  \(pad(stepLabel(entry), 22))  \(detail)")
    }

    private static func stepLabel(_ entry: SagaView.Entry) -> String {
        guard let step = entry.step else { return "" }
        return entry.attempt.map { "\(step) #\($0)" } ?? step
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    private static func trimmed(_ line: String) -> String {
        var line = Substring(line)
        while line.last == " " { line.removeLast() }
        return String(line)
    }
}
