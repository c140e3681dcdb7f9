import DeadLetters
import Foundation

/// Renders dead-lettered messages for people, and as JSON for machines.
enum DeadLetterFormatter {
    static func render(depths: [(queue: String, messages: Int)], letters: [DeadLetter], now: Date = Date()) -> String {
        let waiting = depths.filter { $0.messages > 0 }
        guard !waiting.isEmpty else {
            return depths.count == 1 ? "\(depths[0].queue) is empty" : "every dead-letter queue is empty"
        }
        var lines: [String] = []
        for (queue, messages) in waiting {
            if !lines.isEmpty { lines.append("") }
            lines.append("\(queue)  \(messages) message(s)")
            let rows = letters.filter { $0.queue == queue }.map { letter in
                [letter.messageID ?? "-", letter.sagaID ?? "-", letter.step ?? "-", String(letter.attempts), letter.age(now: now), oneLine(letter.error)]
            }
            lines += table(header: ["MESSAGE ID", "SAGA", "STEP", "ATTEMPTS", "AGE", "ERROR"], rows: rows).map { "  " + $0 }
            if rows.count < messages { lines.append("  … \(messages - rows.count) more (--limit)") }
        }
        return lines.joined(separator: "\n")
    }

    static func render(_ letter: DeadLetter, now: Date = Date()) -> String {
        var lines = [
            "queue       \(letter.queue)",
            "came from   \(letter.originalQueue)",
            "message id  \(letter.messageID ?? "-")",
            "type        \(letter.type ?? "-")",
            "saga        \(letter.sagaID ?? "-")",
            "step        \(letter.step ?? "-")",
            "attempts    \(letter.attempts)",
            "age         \(letter.age(now: now))",
            "error       \(letter.error)",
            "",
            "HEADERS",
        ]
        for key in letter.headers.keys.sorted() { lines.append("  \(key): \(letter.headers[key]!)") }
        lines += ["", "BODY", letter.body]
        return lines.joined(separator: "\n")
    }

    static func json(_ letters: [DeadLetter]) -> String {
        let objects: [[String: Any]] = letters.map { letter in
            var object: [String: Any] = [
                "queue": letter.queue, "originalQueue": letter.originalQueue, "error": letter.error, "attempts": letter.attempts,
                "headers": letter.headers, "body": letter.body,
            ]
            object["messageId"] = letter.messageID
            object["type"] = letter.type
            object["sagaId"] = letter.sagaID
            object["step"] = letter.step
            if let at = letter.deadLetteredAt { object["deadLetteredAt"] = ISO8601DateFormatter().string(from: at) }
            return object
        }
        let data = (try? JSONSerialization.data(withJSONObject: ["messages": objects], options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private static func oneLine(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 120 ? String(flat.prefix(119)) + "…" : flat
    }

    private static func table(header: [String], rows: [[String]]) -> [String] {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            var line = ""
            for (column, cell) in row.enumerated() {
                line += column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 2)
            }
            return line
        }
    }
}
