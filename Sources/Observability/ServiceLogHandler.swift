#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// How a process writes its log to standard error: one JSON object a line for machines (a log
/// shipper, `jq`), or plain text, coloured on a terminal, for a person. `auto` picks text on a
/// terminal and JSON otherwise, so `scripts/run`'s log files and a container's output are JSON.
public enum LogFormat: String, Sendable, CaseIterable {
    case auto, json, text

    /// `auto` made concrete for standard error.
    public var resolved: LogFormat {
        guard self == .auto else { return self }
        return isatty(STDERR_FILENO) == 1 ? .text : .json
    }
}

/// A swift-log handler writing one line per event, each carrying the process's `service` name:
///
///     {"time":"2026-11-25T09:22:16.123Z","level":"error","service":"catalog","message":"message sent to dead-letter queue","saga_id":"…","step":"reserve-inventory","message_id":"…","trace_id":"…"}
///
/// Lines about a saga carry `saga_id`, `step`, `message_id` and `trace_id` from the message they
/// concern (``Logger/Metadata`` the callers add); other metadata follows in key order.
public struct ServiceLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let service: String
    let format: LogFormat
    let colour: Bool
    let write: @Sendable (String) -> Void

    /// - Parameters:
    ///   - format: `.json` or `.text` (`.auto` is resolved for standard error).
    ///   - write: where a finished line goes; standard error unless a test passes its own.
    public init(service: String, format: LogFormat, write: (@Sendable (String) -> Void)? = nil) {
        self.service = service
        self.format = format.resolved
        self.colour = write == nil && self.format == .text && isatty(STDERR_FILENO) == 1
        self.write = write ?? Self.standardError
    }

    /// Makes every `Logger` of this process one of these; call once, first thing in `main`.
    public static func bootstrap(service: String, format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap { _ in
            var handler = ServiceLogHandler(service: service, format: format)
            handler.logLevel = level
            return handler
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let own = event.metadata { all.merge(own) { _, new in new } }
        if let error = event.error, all["error"] == nil { all["error"] = "\(error)" }
        write(format == .json ? jsonLine(event, all) : textLine(event, all))
    }

    /// The keys that come first, in this order, when present.
    static let leading = ["saga_id", "step", "message_id", "trace_id"]

    static func ordered(_ metadata: Logger.Metadata) -> [(String, Logger.Metadata.Value)] {
        let first = leading.compactMap { key in metadata[key].map { (key, $0) } }
        let rest = metadata.filter { !leading.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return first + rest
    }

    func jsonLine(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        var line = #"{"time":"# + Self.quoted(Self.timestamp()) + #","level":"# + Self.quoted(event.level.rawValue)
            + #","service":"# + Self.quoted(service) + #","message":"# + Self.quoted(event.message.description)
        for (key, value) in Self.ordered(metadata) {
            line += "," + Self.quoted(key) + ":" + Self.json(value)
        }
        return line + "}\n"
    }

    func textLine(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        let level = event.level.rawValue
        let painted: String
        switch (colour, event.level) {
        case (false, _): painted = level
        case (true, .trace), (true, .debug): painted = "\u{1B}[2m\(level)\u{1B}[0m"
        case (true, .info): painted = level
        case (true, .notice): painted = "\u{1B}[36m\(level)\u{1B}[0m"
        case (true, .warning): painted = "\u{1B}[33m\(level)\u{1B}[0m"
        case (true, .error), (true, .critical): painted = "\u{1B}[1;31m\(level)\u{1B}[0m"
        }
        var line = "\(Self.timestamp()) \(painted) \(service): \(event.message)"
        for (key, value) in Self.ordered(metadata) { line += " \(key)=\(value)" }
        return line + "\n"
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): quoted(text)
        case .stringConvertible(let convertible): quoted(convertible.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + json($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// `text` as a JSON string, with quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        result.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Now, in UTC, to the millisecond: `2026-11-25T09:22:16.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        let millis = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)Z"
    }

    /// One `write(2)` per line, so lines from several threads never interleave.
    static let standardError: @Sendable (String) -> Void = { line in
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = systemWrite(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
