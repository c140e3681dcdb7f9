import AMQP
import CheckoutContracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Messaging
import OrderService
import Testing
import TestSupport

/// Dead letters as a view: what a consumer dead-letters carries why, and `saga-status dlq` lists,
/// shows, replays and purges them through the real binary against the real broker.
@Suite struct DeadLetterCLITests {
    func dlq(_ arguments: [String], system: TestSystem) async throws -> (Int32, String) {
        let admin = system.amqp
        let url = "amqp://\(admin.user):\(admin.password)@\(admin.host):\(admin.port)/\(admin.vhost)"
        return try await SagaStatusCLITests().sagaStatus(["dlq"] + arguments + ["--amqp-admin-url", url, "--management-url", TestInfrastructure.managementURL])
    }

    @Test func aPoisonMessageCarriesWhyAndAGoodOneIsReplayedOnceEvenTwice() async throws {
        try await TestSystem.with { system in
            let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
            try await system.running([AMQPConnectionService(connection)] + system.workerServices(["catalog"])) {
                await connection.waitUntilConnected()
                let poison = UUID().uuidString.lowercased()
                try await connection.publish(HardCaseTests.command(
                    sagaID: poison, step: "reserve-inventory", type: CatalogContract.reserveInventory, phase: "command",
                    body: "{oops", participant: "catalog"))
                let dead = await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
                    (try? await TestInfrastructure.queueDepth(vhost: system.name, queue: "catalog.commands.dlq")) == 1
                }
                #expect(dead)

                let (listStatus, list) = try await dlq(["list"], system: system)
                #expect(listStatus == 0, "\(list)")
                #expect(list.contains("catalog.commands.dlq  1 message(s)"))
                #expect(list.contains("\(poison):reserve-inventory:command:1"))
                #expect(list.contains("reserve-inventory"))
                #expect(list.contains("catalog.reserve_inventory payload is not a valid ReserveInventory"), "the error says why: \(list)")

                let (showStatus, show) = try await dlq(["show", "catalog.commands.dlq", "\(poison):reserve-inventory:command:1"], system: system)
                #expect(showStatus == 0)
                #expect(show.contains("came from   catalog.commands"))
                #expect(show.contains("x-error: "))
                #expect(show.contains("x-attempts: 1"))
                #expect(show.contains("{oops"))

                // A good command dead-lettered twice (a consumer crashed between the copy and its ack),
                // as after a failure now mended: replayed, it takes effect once.
                let good = UUID().uuidString.lowercased()
                var message = HardCaseTests.command(
                    sagaID: good, step: "reserve-inventory", type: CatalogContract.reserveInventory, phase: "command",
                    body: #"{"orderId":"o-9","items":[{"productId":"sku-mug","quantity":1}]}"#, participant: "catalog")
                DeadLetterHeaders(error: "database was down", attempts: 5, queue: "catalog.commands", at: Date())
                    .write(into: &message.properties.headers)
                message.exchange = SagaTopology.deadLetterExchange
                message.routingKey = "catalog.commands.dlq"
                try await connection.publish(message)
                try await connection.publish(message)
                let id = message.properties.messageID!
                let (replayStatus, replay) = try await dlq(["replay", "catalog.commands.dlq", "--id", id], system: system)
                #expect(replayStatus == 0, "\(replay)")
                #expect(replay.contains("replayed 2 message(s) from catalog.commands.dlq; 1 left there"))
                let catalog = system.pool("catalog")
                let served = await eventually {
                    (try? await catalog.query("SELECT count(*) AS n FROM reservations WHERE saga_id = $1", [good]).first?.int("n")) == 1
                }
                #expect(served)
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await catalog.query("SELECT count(*) AS n FROM reservations WHERE saga_id = $1", [good]).first?.int("n") == 1)
                #expect(try await AMQPConnection.messageCounts(of: ["catalog.commands.dlq"], configuration: system.amqp) == [1])

                let (missingStatus, missing) = try await dlq(["replay", "catalog.commands.dlq", "--id", id], system: system)
                #expect(missingStatus == 1)
                #expect(missing.contains("not found in catalog.commands.dlq: \(id)"))

                let (refusedStatus, refused) = try await dlq(["purge", "catalog.commands.dlq"], system: system)
                #expect(refusedStatus == 1)
                #expect(refused.contains("confirm on a terminal, or pass --yes"))
                #expect(try await AMQPConnection.messageCounts(of: ["catalog.commands.dlq"], configuration: system.amqp) == [1])
                let (purgeStatus, purge) = try await dlq(["purge", "catalog.commands.dlq", "--yes"], system: system)
                #expect(purgeStatus == 0)
                #expect(purge.contains("purged 1 message(s) from catalog.commands.dlq"))
                let (_, empty) = try await dlq(["list"], system: system)
                #expect(empty == "every dead-letter queue is empty\n")

                let (notDLQStatus, notDLQ) = try await dlq(["purge", "catalog.commands", "--yes"], system: system)
                #expect(notDLQStatus == 1)
                #expect(notDLQ.contains("is not a dead-letter queue"))
            }
        }
    }

    @Test func theOrderServiceCountsDeadLettersAndShowsEveryDeadLetterQueuesDepth() async throws {
        try await TestSystem.with { system in
            let app = try await buildOrderService(system.orderServiceConfiguration, logger: system.logger)
            let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
            try await system.running([AMQPConnectionService(connection)]) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    await connection.waitUntilConnected()
                    try await connection.publish(AMQPOutgoingMessage(
                        exchange: SagaTopology.repliesExchange, routingKey: SagaTopology.repliesQueue, body: Array("not a reply".utf8),
                        properties: AMQPProperties(messageID: "junk-1")))
                    let counted = await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
                        let metrics = try? await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
                        return metrics?.contains(#"ordersaga_messages_dead_lettered_total{queue="order-service.replies"} 1"#) == true
                    }
                    #expect(counted)
                    // Every dead-letter queue's depth, this one's included.
                    let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
                    #expect(metrics.contains(#"ordersaga_dead_letter_messages{queue="order-service.replies.dlq"} 1"#), "\(metrics)")
                    #expect(metrics.contains(#"ordersaga_dead_letter_messages{queue="catalog.commands.dlq"} 0"#))
                    let queued = try await AMQPConnection.messageCounts(of: ["order-service.replies.dlq"], configuration: system.amqp)
                    #expect(queued == [1])
                }
            }
        }
    }
}
