import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Histogram

/// Places checkouts against a running order service and measures how fast sagas finish.
/// `scripts/bench` prepares stock and carts and runs it; it stops by itself after `--sagas`.
@main
struct SagaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga-bench",
        abstract: "Measure checkout and saga throughput against a running OrderSaga.",
        discussion: """
            Carts <cart-prefix>-1 … <cart-prefix>-N must exist and be ACTIVE for the customer, and the
            product must have the stock: scripts/bench sets that up.

            Example:
              saga-bench --url http://127.0.0.1:8080 --sagas 2000 --concurrency 64 --cart-prefix cart-bench-42
            """)

    @Option(help: "The order service's base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "How many checkouts to place.") var sagas = 1000
    @Option(help: "Checkouts in flight at once.") var concurrency = 32
    @Option(help: "Carts are <prefix>-1 … <prefix>-N.") var cartPrefix: String
    @Option(help: "The customer who owns the carts.") var customer = "cust-ada"
    @Option(help: "The customer's card.") var card = "card-ada-visa"
    @Option(help: "Checkout i buys one of <product>-(i mod products): several products, as a shop has, so one row's lock does not set the pace.")
    var product = "sku-bench"
    @Option(help: "How many products the checkouts spread over.") var products = 20
    @Option(help: "Give up waiting for sagas after this many seconds.") var timeout = 300.0

    func validate() throws {
        guard sagas > 0, concurrency > 0 else { throw ValidationError("--sagas and --concurrency must be positive") }
    }

    func run() async throws {
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = concurrency
        let session = URLSession(configuration: configuration)
        let histogram = try await placeCheckouts(session)
        print(String(format: "accept latency   p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms",
                     ms(histogram.valueAtPercentile(50)), ms(histogram.valueAtPercentile(90)),
                     ms(histogram.valueAtPercentile(99)), ms(histogram.max)))
    }

    /// Posts every checkout, `concurrency` at a time; returns the accept latencies in microseconds.
    func placeCheckouts(_ session: URLSession) async throws -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        let clock = ContinuousClock()
        let start = clock.now
        var failures = 0
        var sagaIDs: [String] = []
        try await withThrowingTaskGroup(of: (Duration, String?).self) { group in
            var next = 1
            func add() {
                let index = next
                next += 1
                group.addTask { try await checkout(index, session) }
            }
            for _ in 0..<min(concurrency, sagas) { add() }
            while let (latency, sagaID) = try await group.next() {
                histogram.record(UInt64(latency.components.seconds * 1_000_000 + latency.components.attoseconds / 1_000_000_000_000))
                if let sagaID { sagaIDs.append(sagaID) } else { failures += 1 }
                let done = sagaIDs.count + failures
                if done % max(1, sagas / 10) == 0 { FileHandle.standardError.write(Data("placed \(done)/\(sagas)\n".utf8)) }
                if next <= sagas { add() }
            }
        }
        let placed = clock.now - start
        print(String(format: "placed %d checkouts in %.2f s: %.0f/s (%d refused)", sagaIDs.count, seconds(placed), Double(sagaIDs.count) / seconds(placed), failures))

        // Done when no saga is RUNNING or COMPENSATING any more.
        while clock.now - start < .seconds(timeout) {
            let running = try await count(status: "RUNNING", session) + count(status: "COMPENSATING", session)
            if running == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let total = clock.now - start
        print(String(format: "all sagas finished %.2f s after the first checkout: %.0f sagas/s", seconds(total), Double(sagaIDs.count) / seconds(total)))
        return histogram
    }

    func checkout(_ index: Int, _ session: URLSession) async throws -> (Duration, String?) {
        var request = URLRequest(url: URL(string: "\(url)/api/v1/checkout")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data("""
            {"customerId":"\(customer)","cartId":"\(cartPrefix)-\(index)","items":[{"productId":"\(product)-\(index % products)","quantity":1}],
             "paymentCardId":"\(card)","shippingAddress":{"line1":"1 Bench Road","city":"London","postalCode":"E1","country":"GB"}}
            """.utf8)
        let clock = ContinuousClock()
        let start = clock.now
        let (data, response) = try await session.data(for: request)
        let latency = clock.now - start
        guard (response as? HTTPURLResponse)?.statusCode == 202,
              let body = try JSONSerialization.jsonObject(with: data) as? [String: Any], let saga = body["sagaId"] as? String
        else { return (latency, nil) }
        return (latency, saga)
    }

    func count(status: String, _ session: URLSession) async throws -> Int {
        let (data, _) = try await session.data(from: URL(string: "\(url)/api/v1/sagas?status=\(status)&limit=1")!)
        let body = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (body?["sagas"] as? [Any])?.count ?? 0
    }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func ms(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
}
