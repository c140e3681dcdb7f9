import Foundation
import Messaging
import Testing

/// Settings come from the command line, then the environment, then the documented default; a
/// value that does not parse names its key and variable. No server needed.
@Suite struct SettingsTests {
    @Test func environmentVariablesAreNamedAfterTheirKeys() {
        #expect(OrderSagaSettings.relayBatchSize.environmentVariable == "ORDERSAGA_RELAY_BATCH_SIZE")
        #expect(OrderSagaSettings.postgresURL.environmentVariable == "ORDERSAGA_POSTGRES_URL")
        #expect(OrderSagaSettings.postgresAdminURL.environmentVariable == "ORDERSAGA_POSTGRES_ADMIN_URL")
        #expect(OrderSagaSettings.amqpMaxReconnectDelay.environmentVariable == "ORDERSAGA_AMQP_MAX_RECONNECT_DELAY")
    }

    /// The variable the docs and errors name is the one swift-configuration reads, for every key.
    @Test func everyDocumentedVariableIsTheOneThatIsRead() {
        for row in OrderSagaSettings.table {
            #expect(SettingsReader(environment: [row.environment: "x"]).text(forKey: row.key) == "x", "\(row.key) is not read from \(row.environment)")
        }
    }

    @Test func commandLineBeatsEnvironmentBeatsDefault() throws {
        let setting = OrderSagaSettings.relayBatchSize
        #expect(try SettingsReader(environment: [:]).value(setting) == 500)
        #expect(try SettingsReader(environment: ["ORDERSAGA_RELAY_BATCH_SIZE": "200"]).value(setting) == 200)
        #expect(try SettingsReader(overrides: ["relay.batchSize": "50"], environment: ["ORDERSAGA_RELAY_BATCH_SIZE": "200"]).value(setting) == 50)
    }

    @Test func durationsReadInTheirUnits() throws {
        let reader = SettingsReader(environment: ["ORDERSAGA_RETENTION_INBOX": "2d", "ORDERSAGA_RELAY_POLL_INTERVAL": "250ms"])
        #expect(try reader.value(OrderSagaSettings.inboxRetention) == .seconds(2 * 86_400))
        #expect(try reader.value(OrderSagaSettings.relayPollInterval) == .milliseconds(250))
        #expect(OrderSagaSettings.outboxRetention.formattedDefault == "1h")
        #expect(OrderSagaSettings.sweepInterval.formattedDefault == "250ms")
    }

    /// Digits and a unit, nothing else; a value too large for a duration is refused, not a crash.
    @Test func aDurationIsDigitsAndAUnit() throws {
        #expect(parseDuration("90s") == .seconds(90) && parseDuration("7d") == .seconds(7 * 86_400))
        for bad in ["+5s", "-5s", "5 s", " 5s", "5", "s", "1.5h", "999999999999d", "1234567890123ms"] {
            #expect(parseDuration(bad) == nil, "\(bad)")
        }
        #expect(parseDigits("0042", maxDigits: 4) == 42)
        #expect(parseDigits("12345", maxDigits: 4) == nil && parseDigits("", maxDigits: 4) == nil && parseDigits("٣", maxDigits: 4) == nil)
        // A setting with a minimum says it.
        let error = #expect(throws: SettingsError.self) {
            try SettingsReader(environment: ["ORDERSAGA_RETENTION_IDEMPOTENCY_KEYS": "10s"]).value(OrderSagaSettings.idempotencyKeyRetention)
        }
        #expect(error?.description.contains("at least 1m") == true, "\(String(describing: error))")
    }

    @Test(arguments: [("ORDERSAGA_RELAY_BATCH_SIZE", "lots"), ("ORDERSAGA_RELAY_BATCH_SIZE", "0"), ("ORDERSAGA_RETENTION_OUTBOX", "soon")])
    func aBadValueNamesItsKeyAndVariable(_ variable: String, _ value: String) throws {
        let reader = SettingsReader(environment: [variable: value])
        let error = #expect(throws: SettingsError.self) { try MessagingSettings(reader) }
        #expect(error?.description.contains(variable) == true, "\(String(describing: error))")
        #expect(error?.description.contains("\"\(value)\"") == true)
    }

    /// A database URL libpq cannot read is refused at start by name, rather than taken for a
    /// database that does not answer yet and waited for.
    @Test func aPostgresURLIsOneLibpqReads() throws {
        let setting = OrderSagaSettings.postgresURL
        #expect(try SettingsReader(environment: [:]).value(setting) == "")  // the command asks for it
        for good in [
            "postgresql://order_service:secret@127.0.0.1:5432/order_db", "postgres://u@h/db?sslmode=disable", "host=127.0.0.1 dbname=x",
            "postgresql://u@h1:5432,h2:5433/db?target_session_attrs=read-write&connect_timeout=5",
        ] {
            #expect(try SettingsReader(environment: ["ORDERSAGA_POSTGRES_URL": good]).value(setting) == good)
        }
        for bad in [
            "nonsense", "postgresql://u@h/db?nosuchoption=1", "host='unclosed", "postgresql://u@h/db?sslmode=sometimes",
            "host=127.0.0.1 port=fivefour dbname=x", "postgresql://u@h:99999/db", "postgresql://u@h/db?connect_timeout=soon",
        ] {
            let error = #expect(throws: SettingsError.self) { try SettingsReader(environment: ["ORDERSAGA_POSTGRES_URL": bad]).value(setting) }
            #expect(error?.description.contains("ORDERSAGA_POSTGRES_URL") == true, "\(bad): \(String(describing: error))")
        }
        // The reason is libpq's, and a password in the value is not repeated.
        let error = #expect(throws: SettingsError.self) {
            try SettingsReader(environment: ["ORDERSAGA_POSTGRES_URL": "postgresql://u:s3cret@h/db?sslmode=sometimes"]).value(setting)
        }
        #expect(error?.description.contains(#"invalid sslmode value "sometimes""#) == true, "\(String(describing: error))")
        #expect(error?.description.contains("postgresql://u:***@h/db") == true && error?.description.contains("s3cret") == false)
        #expect(SettingsReader.redactingPasswords("host=h password='a b' dbname=x") == "host=h password=*** dbname=x")
        #expect(SettingsReader.redactingPasswords("amqp://order:pw@h1:5672,h2/v") == "amqp://order:***@h1:5672,h2/v")
    }

    /// The command line's keys nothing has read are the ones the process does not use; the
    /// environment's are not asked about (one file of variables may serve every process).
    @Test func theCommandLineKeysNothingReadAreKnown() throws {
        let reader = SettingsReader(
            overrides: ["http.port": "9999", "relay.batchSize": "200"], environment: ["ORDERSAGA_WORKER_POOL_SIZE": "3"])
        #expect(reader.unreadCommandLineKeys == ["http.port", "relay.batchSize"])
        #expect(try reader.value(OrderSagaSettings.relayBatchSize) == 200)
        #expect(try reader.value(OrderSagaSettings.prefetch) == 64)
        #expect(reader.unreadCommandLineKeys == ["http.port"])
        #expect(try reader.value(OrderSagaSettings.port) == 9999)
        #expect(reader.unreadCommandLineKeys.isEmpty)
    }

    /// Tracing is off unless a collector's http(s) URL is given; anything else is refused by name.
    @Test func theTracingEndpointIsAnHTTPURLOrNothing() throws {
        let setting = OrderSagaSettings.tracingEndpoint
        #expect(try SettingsReader(environment: [:]).value(setting) == "")
        #expect(try SettingsReader(environment: ["ORDERSAGA_TRACING_ENDPOINT": "http://127.0.0.1:4318"]).value(setting) == "http://127.0.0.1:4318")
        #expect(try SettingsReader(environment: ["ORDERSAGA_TRACING_ENDPOINT": "https://otel.example.com/v1/traces"]).value(setting)
            == "https://otel.example.com/v1/traces")
        for bad in ["127.0.0.1:4318", "ftp://host", "http://"] {
            let error = #expect(throws: SettingsError.self) { try SettingsReader(environment: ["ORDERSAGA_TRACING_ENDPOINT": bad]).value(setting) }
            #expect(error?.description.contains("ORDERSAGA_TRACING_ENDPOINT") == true, "\(bad): \(String(describing: error))")
        }
    }

    @Test func messagingSettingsDefaultToTheDocumentedValues() throws {
        #expect(try MessagingSettings(SettingsReader(environment: [:])) == MessagingSettings())
        let settings = MessagingSettings()
        #expect(settings.prefetch == 64 && settings.relayBatchSize == 500 && settings.attempts == 5)
    }

    @Test func everyKeyIsListedOnceWithAMeaning() {
        let keys = OrderSagaSettings.table.map(\.key)
        #expect(Set(keys).count == keys.count)
        #expect(OrderSagaSettings.table.allSatisfy { !$0.help.isEmpty })
    }
}

/// The README's settings table is what `ordersaga settings` prints: a setting added in code and
/// forgotten there fails here.
@Suite struct SettingsDocumentationTests {
    @Test func theREADMEListsEverySettingAsTheCodeDeclaresIt() throws {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("README.md"),
            encoding: .utf8)
        let documented = readme.split(separator: "\n").filter { $0.hasPrefix("| `") && $0.contains("| `ORDERSAGA_") }.map(String.init)
        let declared = OrderSagaSettings.table.map { "| `\($0.key)` | `\($0.environment)` | \($0.defaultValue) | \($0.help) |" }
        #expect(documented == declared)
    }
}
