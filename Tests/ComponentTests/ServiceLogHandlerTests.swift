import Foundation
import Logging
import Observability
import Synchronization
import Testing

/// The log line format: one JSON object a line that a machine can read back, or text for a person.
@Suite struct ServiceLogHandlerTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    func logger(_ format: LogFormat, into lines: Lines) -> Logger {
        Logger(label: "test") { _ in ServiceLogHandler(service: "catalog", format: format) { lines.append($0) } }
    }

    @Test func aJSONLineCarriesTheServiceTheSagaAndEveryFieldReadableBack() throws {
        let lines = Lines()
        var logger = logger(.json, into: lines)
        logger[metadataKey: "worker"] = "catalog"
        logger.error("message sent to dead-letter queue: \"quoted\"\nnext line", metadata: [
            "saga_id": "6f1c", "step": "reserve-inventory", "message_id": "6f1c:reserve-inventory:command:1",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "attempts": "5", "items": ["a", "b"],
        ])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("}\n") && lines.all.count == 1 && !line.dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "error")
        #expect(object["service"] as? String == "catalog")
        #expect(object["message"] as? String == "message sent to dead-letter queue: \"quoted\"\nnext line")
        #expect(object["saga_id"] as? String == "6f1c")
        #expect(object["step"] as? String == "reserve-inventory")
        #expect(object["message_id"] as? String == "6f1c:reserve-inventory:command:1")
        #expect(object["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(object["worker"] as? String == "catalog")
        #expect(object["items"] as? [String] == ["a", "b"])
        let time = try #require(object["time"] as? String)
        #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(time)")
        // The saga's fields come first, right after the message, for a person reading raw lines.
        let order = ["\"message\"", "\"saga_id\"", "\"step\"", "\"message_id\"", "\"trace_id\"", "\"attempts\""].map { line.range(of: $0)!.lowerBound }
        #expect(order == order.sorted())
    }

    @Test func controlCharactersAreEscaped() throws {
        let lines = Lines()
        logger(.json, into: lines).warning("bell \u{07} tab \t back \\ end")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "bell \u{07} tab \t back \\ end")
    }

    @Test func textIsOneReadableLineWithoutColourWhenNotATerminal() throws {
        let lines = Lines()
        logger(.text, into: lines).notice("handling works again", metadata: ["failures": "3", "saga_id": "6f1c"])
        let line = try #require(lines.all.first)
        #expect(line.wholeMatch(of: /\S+Z notice catalog: handling works again saga_id=6f1c failures=3\n/) != nil, "\(line)")
        #expect(!line.contains("\u{1B}"))
    }

    @Test func theLevelFiltersAndAutoIsConcrete() {
        let lines = Lines()
        var logger = logger(.json, into: lines)
        logger.logLevel = .warning
        logger.info("dropped")
        logger.warning("kept")
        #expect(lines.all.count == 1)
        #expect(LogFormat.auto.resolved != .auto)
        #expect(LogFormat.json.resolved == .json)
    }
}

/// Metric names from swift-metrics (Hummingbird's among them) as Prometheus accepts them.
@Suite struct ProcessMetricsTests {
    @Test func dotsBecomeUnderscoresAndHummingbirdsCountersGetTheUsualNames() {
        #expect(ProcessMetrics.prometheusName("hb.requests") == "http_requests_total")
        #expect(ProcessMetrics.prometheusName("hb.request.errors") == "http_request_errors_total")
        #expect(ProcessMetrics.prometheusName("http.server.request.duration") == "http_server_request_duration_seconds")
        #expect(ProcessMetrics.prometheusName("http.response.status_code") == "http_response_status_code")
        #expect(ProcessMetrics.prometheusName("ordersaga_postgres_pool_wait_seconds") == "ordersaga_postgres_pool_wait_seconds")
    }
}
