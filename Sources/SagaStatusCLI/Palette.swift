import Foundation

/// Colours for a terminal: each status and timeline event by what it means (green done, yellow
/// undoing or retrying, red failed, cyan in flight, dim not run). Plain when the output is a file
/// or a pipe, or `NO_COLOR` is set.
public struct Palette: Sendable {
    public let enabled: Bool

    public static let plain = Palette(enabled: false)

    /// Colours when standard output is a terminal and `NO_COLOR` is not set.
    public static var standardOutput: Palette {
        Palette(enabled: isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil)
    }

    public init(enabled: Bool) { self.enabled = enabled }

    /// `word` padded to `width`, coloured by its meaning; the padding stays outside the colour.
    public func word(_ word: String, width: Int = 0) -> String {
        let padding = String(repeating: " ", count: max(0, width - word.count))
        guard enabled, let code = Self.code(of: word) else { return word + padding }
        return "\u{1B}[\(code)m\(word)\u{1B}[0m" + padding
    }

    static func code(of word: String) -> String? {
        switch word {
        case "COMPLETED", "SUCCEEDED", "step_succeeded", "saga_completed", "step_compensated", "saga_compensated": "32"
        case "COMPENSATING", "COMPENSATED", "compensation_started", "compensation_sent", "retry_scheduled", "attempt_timed_out",
             "attempt_failed":
            "33"
        case "FAILED", "TIMED_OUT", "step_failed", "step_timed_out", "saga_failed", "compensation_failed": "31"
        case "RUNNING", "command_sent", "saga_started": "36"
        case "PENDING", "SKIPPED", "step_skipped", "reply_ignored": "2"
        default: word.hasPrefix("operator_") ? "35" : nil
        }
    }
}
