import AMQP
import Foundation
import Logging
import Messaging
import Postgres
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

    @Test func handedOverMessagesArePublishedFromMemoryAndThePollTakesOnlyWhatNobodyHandedOver() async throws {
        try await TestSystem.with { system in
            let pool = system.pool("order")
            let connection = AMQPConnection(configuration: system.amqp(of: "order"), topology: SagaTopology.forOrderService, logger: system.logger)
            var settings = MessagingSettings()
            settings.relayPollInterval = .seconds(60)  // no poll by the clock while the test runs
            let relay = OutboxRelay(pool: pool, connection: connection, settings: settings, logger: system.logger)
            func depth() async -> Int { (try? await TestInfrastructure.queueDepth(vhost: system.name, queue: "catalog.commands")) ?? -1 }

            // Left behind by a process that crashed after its commit: the relay's first poll takes it.
            try await Self.write(Self.command("left-behind"), createdSecondsAgo: 60, on: pool)
            try await system.running([AMQPConnectionService(connection), relay]) {
                // The relay's first round may come before the broker connection is up; its rows
                // then wait for the next poll, which this wake asks for.
                #expect(await eventually(timeout: .seconds(20)) { connection.isConnected })
                relay.wake()
                #expect(await eventually(timeout: .seconds(20)) { (try? await Self.published("left-behind", on: pool)) == true })
                #expect(await eventually(timeout: .seconds(20)) { await depth() == 1 })

                // Handed over after its commit: published and marked with no poll.
                let handed = Self.command("handed-over")
                try await Self.write(handed, on: pool)
                relay.committed([handed])
                #expect(await eventually(timeout: .seconds(10)) { (try? await Self.published("handed-over", on: pool)) == true })
                #expect(await eventually(timeout: .seconds(20)) { await depth() == 2 })

                // Young and not handed over: its writer may be publishing it, so a poll leaves it
                // for the grace period, then takes it.
                try await Self.write(Self.command("young"), on: pool)
                relay.wake()
                try await Task.sleep(for: .milliseconds(700))
                #expect(try await Self.published("young", on: pool) == false)
                try await Task.sleep(for: .seconds(2))
                relay.wake()
                #expect(await eventually(timeout: .seconds(10)) { (try? await Self.published("young", on: pool)) == true })
                #expect(await eventually(timeout: .seconds(20)) { await depth() == 3 })
            }
            // Each went out once.
            let bodies = try await TestInfrastructure.managementJSON("/api/queues/\(system.name)/catalog.commands") as? [String: Any]
            #expect(bodies?["messages"] as? Int == 3)
        }
    }
}
