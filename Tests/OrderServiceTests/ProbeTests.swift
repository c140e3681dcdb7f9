import AMQP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import Testing
import TestSupport
import Workers

/// What a worker's probes say when its database takes connections and never answers (a stopped
/// server, a host behind a dead route) and RabbitMQ blocks its connection: they answer in time
/// (0.8 s), saying which, instead of hanging until the connection attempt fails.
@Suite struct ProbeTests {
    @Test func aWorkersProbesAnswerInTimeWhenItsDatabaseNeverAnswers() async throws {
        let (listener, port) = try TestInfrastructure.silentListener()
        defer { close(listener) }
        let router = WorkerHTTP.router(
            participant: "catalog", pool: PostgresPool(conninfo: "postgresql://nobody@127.0.0.1:\(port)/none?connect_timeout=30", size: 1),
            broker: { .blocked(reason: "low on memory") }, metrics: WorkerMetrics(), logger: Logger(label: "test"))
        try await Application(router: router).test(.router) { client in
            let clock = ContinuousClock()
            let started = clock.now
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: String]
                #expect(body == ["status": "not ready", "database": "down", "broker": "blocked", "brokerBlocked": "low on memory"])
            }
            // 0.8 s when the machine is idle; the connection attempt itself fails only after 30 s.
            #expect(clock.now - started < .seconds(15), "\(clock.now - started)")
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }
}
