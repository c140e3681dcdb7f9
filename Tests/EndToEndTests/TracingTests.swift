import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import HummingbirdTesting
import Postgres
import Synchronization
import Testing
import TestSupport

/// One checkout is one trace across the six processes: the order service and the five workers run
/// as the shipped binary, export their spans over OTLP/HTTP (swift-otel) to a small collector in
/// the test, and every span of the saga shares the trace id of the caller's `traceparent`.
@Suite struct TracingTests {
    /// The spans a collector received, as OTLP/HTTP JSON has them.
    final class Collector: Sendable {
        struct Span: Sendable, Equatable {
            var service: String
            var traceID: String
            var spanID: String
            var parentID: String
            var name: String
        }
        let spans = Mutex<[Span]>([])

        /// Reads one `ExportTraceServiceRequest` in JSON.
        func receive(_ body: Data) throws {
            let request = try JSONDecoder().decode(ExportRequest.self, from: body)
            var received: [Span] = []
            for resourceSpans in request.resourceSpans ?? [] {
                let service = resourceSpans.resource?.attributes?.first { $0.key == "service.name" }?.value.stringValue ?? "?"
                for scope in resourceSpans.scopeSpans ?? [] {
                    for span in scope.spans ?? [] {
                        received.append(Span(
                            service: service, traceID: Self.hex(span.traceId), spanID: Self.hex(span.spanId),
                            parentID: Self.hex(span.parentSpanId ?? ""), name: span.name))
                    }
                }
            }
            spans.withLock { $0 += received }
        }

        /// OTLP's JSON ids: hex, or base64 as protobuf's JSON writes bytes.
        static func hex(_ id: String) -> String {
            if id.isEmpty || (id.count % 16 == 0 && id.allSatisfy(\.isHexDigit)) { return id.lowercased() }
            guard let bytes = Data(base64Encoded: id) else { return id }
            return bytes.map { String(format: "%02x", $0) }.joined()
        }

        struct ExportRequest: Decodable {
            struct KeyValue: Decodable { struct Value: Decodable { var stringValue: String? }; var key: String; var value: Value }
            struct Resource: Decodable { var attributes: [KeyValue]? }
            struct Span: Decodable { var traceId: String; var spanId: String; var parentSpanId: String?; var name: String }
            struct ScopeSpans: Decodable { var spans: [Span]? }
            struct ResourceSpans: Decodable { var resource: Resource?; var scopeSpans: [ScopeSpans]? }
            var resourceSpans: [ResourceSpans]?
        }
    }

    /// A live OTLP/HTTP receiver on a free port: `POST /v1/traces` in JSON.
    func withCollector(_ body: @escaping @Sendable (Collector, Int) async throws -> Void) async throws {
        let collector = Collector()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 16 << 20)
            try collector.receive(Data(buffer.readableBytesView))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await body(collector, try #require(client.port))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func oneCheckoutIsOneTraceAcrossTheSixProcesses() async throws {
        try await TestSystem.with { system in
            try await withCollector { collector, collectorPort in
                let port = Int.random(in: 20_000..<30_000)
                // Each exports its spans to the collector, in JSON, every 200 ms.
                let processes = try system.launchAll(
                    port: port, extra: ["--set", "tracing.endpoint=http://127.0.0.1:\(collectorPort)"],
                    environment: ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "200"])
                defer { for process in processes where process.isRunning { process.terminate() } }
                #expect(await TestSystem.becomesReady(port: port))

                // The caller's own trace: the checkout joins it.
                let traceID = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
                let callerSpan = "00f067aa0ba902b7"
                let (status, body) = try #require(await system.postCheckout(
                    port: port, CheckoutClient.body(items: [("sku-mug", 1)], coupon: "WELCOME10"),
                    headers: ["traceparent": "00-\(traceID)-\(callerSpan)-01"]))
                #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
                let sagaID = try JSONDecoder().decode(CheckoutClient.Accepted.self, from: body).sagaId

                let order = system.pool("order")
                #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
                    (try? await order.query("SELECT status FROM order_sagas WHERE id = $1::uuid", [sagaID]).first?.string("status")) == "COMPLETED"
                })
                // The workers' last spans reach the collector within a batch delay.
                let steps = ["reserve-inventory", "validate-coupon", "payment", "cart-convert", "notify"]
                let expected = Set(["start create_order"] + steps.flatMap { ["handle \($0)", "reply \($0)", "step \($0)"] })
                #expect(await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                    expected.isSubset(of: Set(collector.spans.withLock { $0 }.filter { $0.traceID == traceID }.map(\.name)))
                })
                // Stopped gracefully, each flushes what it still holds.
                for process in processes { await process.stop() }

                let spans = collector.spans.withLock { $0 }.filter { $0.traceID == traceID }
                let names = spans.map(\.name)
                #expect(expected.isSubset(of: Set(names)), "\(names.sorted())")
                // Every process took part, each worker with its own step.
                let services = Dictionary(grouping: spans, by: \.service)
                #expect(Set(services.keys) == ["order-service", "catalog", "promotion", "identity", "cart", "notification"])
                for (participant, step) in zip(["catalog", "promotion", "identity", "cart", "notification"], steps) {
                    #expect(services[participant]?.map(\.name).contains("handle \(step)") == true, "\(participant): \(services[participant]?.map(\.name) ?? [])")
                }
                // One tree: every span's parent is the caller's span or another span of the trace,
                // and each worker's span is the child of the span that sent its command.
                let ids = Set(spans.map(\.spanID))
                for span in spans { #expect(span.parentID == callerSpan || ids.contains(span.parentID), "\(span) has no parent in the trace") }
                let byID = Dictionary(spans.map { ($0.spanID, $0) }) { first, _ in first }
                for step in steps {
                    let handle = try #require(spans.first { $0.name == "handle \(step)" })
                    let reply = try #require(spans.first { $0.name == "reply \(step)" })
                    #expect(reply.parentID == handle.spanID, "the reply to \(step) is handled under the worker's span")
                    #expect(byID[handle.parentID]?.service == "order-service", "\(step)'s command was sent under an order-service span")
                    let stepSpan = try #require(spans.first { $0.name == "step \(step)" })
                    #expect(byID[stepSpan.parentID]?.name == "start create_order")
                }
                // The HTTP request's span is the caller's child, and the saga starts under it.
                let start = try #require(spans.first { $0.name == "start create_order" })
                #expect(byID[start.parentID]?.parentID == callerSpan)
            }
        }
    }
}
