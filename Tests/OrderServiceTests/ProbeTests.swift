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
/// server, a host behind a dead route) and RabbitMQ blocks its connection: they answer within
/// an orchestrator's probe timeout, saying which, instead of hanging until it gives up.
@Suite struct ProbeTests {
    @Test func aWorkersProbesAnswerInTimeWhenItsDatabaseNeverAnswers() async throws {
        let (listener, port) = try TestInfrastructure.silentListener()
        defer { close(listener) }
        let router = WorkerHTTP.router(
            participant: "catalog", pool: PostgresPool(conninfo: "postgresql://nobody@127.0.0.1:\(port)/none", size: 1),
            broker: { .blocked(reason: "low on memory") }, metrics: WorkerMetrics(), logger: Logger(label: "test"))
        try await Application(router: router).test(.router) { client in
            let clock = ContinuousClock()
            let started = clock.now
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: String]
                #expect(body == ["status": "not ready", "database": "down", "broker": "blocked", "brokerBlocked": "low on memory"])
            }
            #expect(clock.now - started < .seconds(1), "\(clock.now - started)")
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }
}
