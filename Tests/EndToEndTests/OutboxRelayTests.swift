import AMQP
import Foundation
import Logging
import Messaging
import Postgres
import ServiceLifecycle
import Testing
import TestSupport

/// The outbox relay against the test's PostgreSQL and RabbitMQ: messages handed over after their
/// commit are published from memory, and the poll publishes only the rows nobody is publishing.
@Suite struct OutboxRelayTests {
    /// A command to the catalog worker (none runs here, so it waits in `catalog.commands`).
    static func command(_ id: String) -> OutboxMessage {
        OutboxMessage(
            messageID: id, exchange: SagaTopology.commandsExchange, routingKey: "catalog", type: "catalog.reserve_inventory",
            correlationID: nil, body: #"{"test":"\#(id)"}"#)
    }

    static func write(_ message: OutboxMessage, createdSecondsAgo age: Int = 0, on pool: PostgresPool) async throws {
        try await pool.transaction { connection in
            try Outbox.insert([message], on: connection)
            try connection.query("UPDATE outbox SET created_at = now() - make_interval(secs => $1) WHERE message_id = $2", [age, message.messageID])
        }
    }

    static func published(_ id: String, on pool: PostgresPool) async throws -> Bool {
        try await pool.query("SELECT published_at IS NOT NULL AS published FROM outbox WHERE message_id = $1", [id]).first!.bool("published")
    }

    /// Seconds from the row's commit to its mark: a poll cannot take a row before it is 2 s old.
    static func secondsToPublish(_ id: String, on pool: PostgresPool) async throws -> Double {
        try await pool.query(
            "SELECT extract(epoch FROM published_at - created_at)::float8 AS seconds FROM outbox WHERE message_id = $1", [id]
        ).first!.double("seconds")
    }

    @Test func handedOverMessagesArePublishedFromMemoryAndThePollTakesOnlyWhatNobodyHandedOver() async throws {
        try await TestSystem.with { system in
            let pool = system.pool("order")
            func relay(pollingEvery interval: Duration) -> (AMQPConnection, [any Service], OutboxRelay) {
                let connection = AMQPConnection(configuration: system.amqp(of: "order"), topology: SagaTopology.forOrderService, logger: system.logger)
                var settings = MessagingSettings()
                settings.relayPollInterval = interval
                let relay = OutboxRelay(pool: pool, connection: connection, settings: settings, logger: system.logger)
                return (connection, [AMQPConnectionService(connection), relay], relay)
            }
            func depth() async -> Int { (try? await TestInfrastructure.queueDepth(vhost: system.name, queue: "catalog.commands")) ?? -1 }

            // Handed over after its commit: published and marked from memory. This relay polls at
            // its first round, before the row exists, and then not for a minute: no poll took it.
            let (connection, services, slow) = relay(pollingEvery: .seconds(60))
            let started = ContinuousClock.now
            try await system.running(services) {
                await connection.waitUntilConnected()
                let handed = Self.command("handed-over")
                try await Self.write(handed, on: pool)
                slow.committed([handed])
                #expect(await eventually(timeout: .seconds(20)) { (try? await Self.published("handed-over", on: pool)) == true })
                #expect(await eventually(timeout: .seconds(20)) { await depth() == 1 })
                #expect(ContinuousClock.now - started < .seconds(60), "a second poll may have taken the row")
            }

            // Left behind by a process that crashed after its commit: a poll takes it.
            try await Self.write(Self.command("left-behind"), createdSecondsAgo: 60, on: pool)
            let (_, services2, _) = relay(pollingEvery: .milliseconds(200))
            try await system.running(services2) {
                #expect(await eventually(timeout: .seconds(20)) { (try? await Self.published("left-behind", on: pool)) == true })
                #expect(await eventually(timeout: .seconds(20)) { await depth() == 2 })

                // Young and not handed over: its writer may be publishing it, so the polls (every
                // 200 ms) leave it for the grace period, then take it.
                try await Self.write(Self.command("young"), on: pool)
                try await Task.sleep(for: .milliseconds(700))
                #expect(try await Self.published("young", on: pool) == false)
                #expect(await eventually(timeout: .seconds(20)) { (try? await Self.published("young", on: pool)) == true })
                #expect(try await Self.secondsToPublish("young", on: pool) >= 2)
                #expect(await eventually(timeout: .seconds(20)) { await depth() == 3 })
            }
            // Each went out once.
            let bodies = try await TestInfrastructure.managementJSON("/api/queues/\(system.name)/catalog.commands") as? [String: Any]
            #expect(bodies?["messages"] as? Int == 3)
        }
    }
}
