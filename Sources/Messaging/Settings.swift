import Configuration
import Foundation
import Postgres
import Retry
import Synchronization

/// One tunable of OrderSaga. Its value comes from the command line (`--set relay.batchSize=200`,
/// or the flag a command has for it), then from the environment variable named after its key
/// (`ORDERSAGA_RELAY_BATCH_SIZE`), then from its documented default. A value that does not parse
/// stops the process naming the key, the variable and what was expected.
public struct Setting<Value: Sendable>: Sendable {
    /// `relay.batchSize`: dot-separated, camelCase words.
    public let key: String
    public let help: String
    public let defaultValue: Value
    /// What a valid value looks like, for errors and the table.
    public let expected: String
    let parse: @Sendable (String) -> Value?
    let format: @Sendable (Value) -> String
    /// What the table shows for an empty default: `(required)` for a URL, or what empty means.
    public var emptyDefaultLabel = "(required)"
    /// Why a value that does not parse was refused, when there is more to say than ``expected``.
    var reason: (@Sendable (String) -> String?)?

    /// `ORDERSAGA_RELAY_BATCH_SIZE` for `relay.batchSize`, as swift-configuration's environment
    /// provider names it.
    public var environmentVariable: String {
        var name = "ORDERSAGA"
        for component in key.split(separator: ".") {
            name += "_"
            var previous: Character?
            for character in component {
                if let previous, previous.isLowercase, character.isUppercase { name += "_" }
                name += character.isLetter || character.isNumber ? character.uppercased() : "_"
                previous = character
            }
        }
        return name
    }

    /// The default as it would be written.
    public var formattedDefault: String { format(defaultValue) }
}

extension Setting where Value == Int {
    /// A whole number in `range`.
    public static func integer(_ key: String, _ defaultValue: Int, in range: ClosedRange<Int>, _ help: String) -> Setting {
        Setting(
            key: key, help: help, defaultValue: defaultValue, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)",
            parse: { Int($0).flatMap { range.contains($0) ? $0 : nil } }, format: { String($0) })
    }
}

extension Setting where Value == Duration {
    /// A duration like `250ms`, `5s`, `2m`, `1h` or `7d`, at least `minimum`.
    public static func duration(_ key: String, _ defaultValue: Duration, minimum: Duration = .milliseconds(1), _ help: String) -> Setting {
        Setting(
            key: key, help: help, defaultValue: defaultValue,
            expected: "a duration like 250ms, 5s, 2m, 1h or 7d" + (minimum > .milliseconds(1) ? ", at least \(formatDuration(minimum))" : ""),
            parse: { text in parseDuration(text).flatMap { $0 >= minimum ? $0 : nil } }, format: formatDuration)
    }
}

extension Setting where Value == String {
    /// Text; `empty` says what an empty default means in the table (`(required)` unless told).
    public static func text(_ key: String, _ defaultValue: String, empty: String? = nil, _ help: String) -> Setting {
        var setting = Setting(key: key, help: help, defaultValue: defaultValue, expected: "text", parse: { $0 }, format: { $0 })
        if let empty { setting.emptyDefaultLabel = empty }
        return setting
    }
}

extension Setting where Value == String {
    /// An `http://` or `https://` URL with a host, or empty; `empty` says what empty means.
    public static func httpURL(_ key: String, default defaultValue: String = "", empty: String = "(required)", _ help: String) -> Setting {
        var setting = Setting(
            key: key, help: help, defaultValue: defaultValue, expected: "an http:// or https:// URL with a host, or nothing",
            parse: { text in
                guard !text.isEmpty else { return text }
                guard let url = URLComponents(string: text), url.scheme == "http" || url.scheme == "https",
                    let host = url.host, !host.isEmpty
                else { return nil }
                return text
            },
            format: { $0 })
        setting.emptyDefaultLabel = empty
        return setting
    }

    /// A PostgreSQL URL (`postgresql://user:password@host:port/db`) or `key=value` string that
    /// libpq reads, or empty (required: the command says which flag gives it).
    public static func postgresURL(_ key: String, _ help: String) -> Setting {
        Setting(
            key: key, help: help, defaultValue: "", expected: "a PostgreSQL URL like postgresql://user:password@host:port/db",
            parse: { text in text.isEmpty || PostgresConnection.conninfoProblem(text) == nil ? text : nil }, format: { $0 },
            reason: { PostgresConnection.conninfoProblem($0).map { "libpq: \($0)" } })
    }

    /// One of `choices`.
    public static func choice(_ key: String, _ defaultValue: String, _ choices: [String], _ help: String) -> Setting {
        Setting(
            key: key, help: help, defaultValue: defaultValue, expected: "one of \(choices.joined(separator: ", "))",
            parse: { choices.contains($0) ? $0 : nil }, format: { $0 })
    }
}

/// `250ms`, `5s`, `2m`, `1h`, `7d` as a duration.
public func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    for (suffix, milliseconds) in units where text.hasSuffix(suffix) {
        guard let value = parseDigits(text.dropLast(suffix.count), maxDigits: 12) else { return nil }
        let (total, overflow) = Int64(value).multipliedReportingOverflow(by: milliseconds)
        return overflow ? nil : .milliseconds(total)
    }
    return nil
}

/// 1 to `maxDigits` ASCII digits as a number: no sign, no spaces, nothing else (what JSON
/// Schema's `^[0-9]{1,n}$` accepts, unlike `Int("+5")`).
public func parseDigits(_ text: some StringProtocol, maxDigits: Int) -> Int? {
    guard (1...maxDigits).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
    return Int(text)
}

/// `250ms`, `5s`, `2m`, `1h`, `7d`: the largest unit that divides it, as settings are written.
public func formatDuration(_ duration: Duration) -> String {
    let milliseconds = duration.inMilliseconds
    for (suffix, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where milliseconds >= size && milliseconds % size == 0 {
        return "\(milliseconds / size)\(suffix)"
    }
    return "\(milliseconds)ms"
}

/// A setting's value that does not parse.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The one place settings are read from: values given on the command line, then the environment,
/// then each setting's default (swift-configuration's providers, in that order).
public struct SettingsReader: Sendable {
    private let reader: ConfigReader
    /// The keys the command line set.
    private let overridden: Set<String>
    /// The keys read so far, so that a command-line key this process never reads can be refused.
    private let read = ReadKeys()

    private final class ReadKeys: Sendable {
        let keys = Mutex<Set<String>>([])
    }

    /// - Parameters:
    ///   - overrides: values from the command line, by key (`relay.batchSize`: `200`).
    ///   - environment: the process's environment (a test passes its own).
    public init(overrides: [String: String] = [:], environment: [String: String] = ProcessInfo.processInfo.environment) {
        overridden = Set(overrides.keys)
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in overrides { values[AbsoluteConfigKey(Self.configKey(key))] = ConfigValue(.string(value), isSecret: false) }
        reader = ConfigReader(providers: [
            InMemoryProvider(name: "command line", values: values),
            EnvironmentVariablesProvider(environmentVariables: environment),
        ])
    }

    /// The text set for `key` (`relay.batchSize`), if anything sets it.
    public func text(forKey key: String) -> String? {
        read.keys.withLock { _ = $0.insert(key) }
        return reader.string(forKey: Self.configKey(key))
    }

    /// The keys the command line set that nothing has read yet: once a process has read every
    /// setting it uses, settings it does not use (`http.port` given to a worker).
    public var unreadCommandLineKeys: [String] {
        let read = read.keys.withLock { $0 }
        return overridden.subtracting(read).sorted()
    }

    /// The value of `setting`, or its default when nothing sets it.
    public func value<Value>(_ setting: Setting<Value>) throws -> Value {
        guard let text = text(forKey: setting.key) else { return setting.defaultValue }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let value = setting.parse(trimmed) else {
            let reason = setting.reason?(trimmed).map { " (\($0))" } ?? ""
            throw SettingsError(
                description: "setting \(setting.key) (\(setting.environmentVariable)) is \"\(Self.redactingPasswords(text))\"; expected \(setting.expected)\(reason)")
        }
        return value
    }

    /// `text` with the password of any URL (`scheme://user:password@`) or `password=` pair
    /// replaced by `***`: an error about a database or broker URL is logged, its secret is not.
    public static func redactingPasswords(_ text: String) -> String {
        // (`password` itself is the placeholder of a URL's template, not a secret.)
        text.replacing(/(:\/\/[^:\/@\s]*:)([^@\s]*)@/) { $0.output.2 == "password" ? "\($0.output.0)" : "\($0.output.1)***@" }
            .replacing(/(password\s*=\s*)('[^']*'|\S+)/) { "\($0.output.1)***" }
    }

    static func configKey(_ key: String) -> ConfigKey {
        ConfigKey(["ordersaga"] + key.split(separator: ".").map(String.init))
    }
}
