import AMQP
import Foundation
import Logging
import Testing
import TestSupport

/// Against the real RabbitMQ that `scripts/test` started, each test in a vhost of its own.
@Suite struct AMQPConnectionTests {
    let logger = Logger(label: "amqp-test")

    static let topology = AMQPTopology(
        exchanges: [.init(name: "test.direct", kind: .direct), .init(name: "test.dead-letter", kind: .direct)],
        queues: [
            .init(name: "work", deadLetterExchange: "test.dead-letter", deadLetterRoutingKey: "work.dlq"),
            .init(name: "work.dlq"),
        ],
        bindings: [
            .init(queue: "work", exchange: "test.direct", routingKey: "work"),
            .init(queue: "work.dlq", exchange: "test.dead-letter", routingKey: "work.dlq"),
        ])

    func withVhost(_ body: (AMQPConfiguration) async throws -> Void) async throws {
        let name = TestInfrastructure.uniqueName("amqp")
        let configuration = try await TestInfrastructure.createVhost(name)
        do {
            try await body(configuration)
        } catch {
            await TestInfrastructure.deleteVhost(name)
            throw error
        }
        await TestInfrastructure.deleteVhost(name)
    }

    func message(_ id: String, routingKey: String = "work", headers: [String: AMQPHeaderValue] = [:]) -> AMQPOutgoingMessage {
        AMQPOutgoingMessage(
            exchange: "test.direct", routingKey: routingKey, body: Array("{\"n\":\"\(id)\"}".utf8),
            properties: AMQPProperties(
                messageID: id, correlationID: "saga-1", type: "test.thing", contentType: "application/json",
                replyTo: "replies", timestamp: Date(timeIntervalSince1970: 1_700_000_000), headers: headers))
    }

    @Test func publishedMessageArrivesWithItsPropertiesAndHeaders() async throws {
        try await withVhost { configuration in
            let connection = AMQPConnection(
                configuration: configuration, topology: Self.topology, consumers: [AMQPConsumer(queue: "work")], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await connection.run() }
                await connection.waitUntilConnected()
                try await connection.publish(message("m-1", headers: ["step": .string("reserve-inventory"), "attempt": .int(2)]))
                var iterator = connection.deliveries.makeAsyncIterator()
                let delivery = try #require(await iterator.next())
                #expect(delivery.queue == "work")
                #expect(delivery.body == Array("{\"n\":\"m-1\"}".utf8))
                #expect(delivery.properties.messageID == "m-1")
                #expect(delivery.properties.correlationID == "saga-1")
                #expect(delivery.properties.type == "test.thing")
                #expect(delivery.properties.contentType == "application/json")
                #expect(delivery.properties.replyTo == "replies")
                #expect(delivery.properties.persistent)
                #expect(delivery.properties.timestamp == Date(timeIntervalSince1970: 1_700_000_000))
                #expect(delivery.properties.headers["step"] == .string("reserve-inventory"))
                #expect(delivery.properties.headers["attempt"] == .int(2))
                connection.ack(delivery)
                group.cancelAll()
            }
        }
    }

    @Test func unroutablePublishFailsInsteadOfBeingConfirmed() async throws {
        try await withVhost { configuration in
            let connection = AMQPConnection(configuration: configuration, topology: Self.topology, logger: logger)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await connection.run() }
                await connection.waitUntilConnected()
                let results = await connection.publish([message("a"), message("b", routingKey: "nowhere"), message("c")])
                #expect((try? results[0].get()) != nil)
                #expect((try? results[2].get()) != nil)
                guard case .failure(let error) = results[1] else {
                    Issue.record("an unroutable message was confirmed as delivered")
                    return
                }
                #expect(error.isUnroutable)
                group.cancelAll()
            }
        }
    }

    @Test func batchOfManyConfirmsAndAllArrive() async throws {
        try await withVhost { configuration in
            let connection = AMQPConnection(
                configuration: configuration, topology: Self.topology, consumers: [AMQPConsumer(queue: "work", prefetch: 100)],
                logger: logger)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await connection.run() }
                await connection.waitUntilConnected()
                let results = await connection.publish((0..<500).map { message("bulk-\($0)") })
                #expect(results.allSatisfy { (try? $0.get()) != nil })
                var seen = Set<String>()
                for await delivery in connection.deliveries {
                    seen.insert(delivery.properties.messageID ?? "")
                    connection.ack(delivery)
                    if seen.count == 500 { break }
                }
                #expect(seen.count == 500)
                group.cancelAll()
            }
        }
    }

    @Test func rejectedMessageGoesToTheDeadLetterQueueAndTheNextOneIsServed() async throws {
        try await withVhost { configuration in
            let connection = AMQPConnection(
                configuration: configuration, topology: Self.topology,
                consumers: [AMQPConsumer(queue: "work"), AMQPConsumer(queue: "work.dlq")], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await connection.run() }
                await connection.waitUntilConnected()
                try await connection.publish(message("poison"))
                try await connection.publish(message("good"))
                var fromWork: [String] = []
                var fromDeadLetter: [String] = []
                for await delivery in connection.deliveries {
                    let id = delivery.properties.messageID ?? ""
                    if delivery.queue == "work" {
                        fromWork.append(id)
                        if id == "poison" { connection.reject(delivery, requeue: false) } else { connection.ack(delivery) }
                    } else {
                        fromDeadLetter.append(id)
                        connection.ack(delivery)
                    }
                    if fromWork.count == 2 && fromDeadLetter.count == 1 { break }
                }
                #expect(fromWork == ["poison", "good"])
                #expect(fromDeadLetter == ["poison"])
                group.cancelAll()
            }
        }
    }

    @Test func heartbeatsKeepAnIdleConnectionOpen() async throws {
        try await withVhost { configuration in
            var configuration = configuration
            configuration.heartbeat = 1  // the broker closes a connection silent for two intervals
            let connection = AMQPConnection(configuration: configuration, topology: Self.topology, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await connection.run() }
                await connection.waitUntilConnected()
                try await Task.sleep(for: .seconds(5))
                #expect(connection.isConnected)
                #expect(connection.timesConnected == 1, "the idle connection was dropped and reopened")
                try await connection.publish(message("after-idle"))
                group.cancelAll()
            }
        }
    }

    @Test func wrongPasswordIsReportedAndRetried() async throws {
        var configuration = try await TestInfrastructure.createVhost(TestInfrastructure.uniqueName("amqp"))
        configuration.password = "wrong"
        let connection = AMQPConnection(configuration: configuration, topology: Self.topology, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await connection.run() }
            try await Task.sleep(for: .milliseconds(500))
            #expect(!connection.isConnected)
            let results = await connection.publish([message("x")])
            guard case .failure = results[0] else {
                Issue.record("publish succeeded without a connection")
                return
            }
            group.cancelAll()
        }
        await TestInfrastructure.deleteVhost(configuration.vhost)
    }
}

/// The broker dropping the connection (as on a restart): the client reconnects by itself.
@Suite struct AMQPReconnectTests {
    @Test func reconnectsAndResumesConsumingAfterTheBrokerClosedTheConnection() async throws {
        let vhost = TestInfrastructure.uniqueName("amqp")
        let configuration = try await TestInfrastructure.createVhost(vhost)
        let connection = AMQPConnection(
            configuration: configuration, topology: AMQPConnectionTests.topology, consumers: [AMQPConsumer(queue: "work")],
            logger: Logger(label: "reconnect-test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await connection.run() }
            await connection.waitUntilConnected()
            var deliveries = connection.deliveries.makeAsyncIterator()
            func message(_ id: String) -> AMQPOutgoingMessage {
                AMQPOutgoingMessage(exchange: "test.direct", routingKey: "work", body: Array(id.utf8), properties: AMQPProperties(messageID: id))
            }
            try await connection.publish(message("before"))
            #expect(await deliveries.next()?.properties.messageID == "before")

            // Close it from the broker's side, as an operator or a broker restart would.
            // The management API lists a new connection after its next stats round (a few seconds).
            let closed = await eventually(timeout: .seconds(15), interval: .milliseconds(250)) {
                ((try? await TestInfrastructure.closeConnections(vhost: vhost)) ?? 0) == 1
            }
            #expect(closed)
            // Publishes fail (never silently succeed) until the client is back; then one gets through.
            let delivered = await eventually(timeout: .seconds(15), interval: .milliseconds(100)) {
                (try? await connection.publish(message("after"))) != nil
            }
            #expect(delivered)
            // The consumer was started again on the new connection; "before" was never acked, so the
            // broker delivers it again, marked redelivered.
            let first = await deliveries.next()
            let second = await deliveries.next()
            #expect(Set([first?.properties.messageID, second?.properties.messageID]) == ["before", "after"])
            #expect([first, second].first { $0?.properties.messageID == "before" }??.redelivered == true)
            group.cancelAll()
        }
        await TestInfrastructure.deleteVhost(vhost)
    }
}

/// A cluster's nodes in one URL: a node that does not answer is passed over for the next one,
/// both by a long-lived connection and by the one-off connections of setup.
@Suite struct AMQPNodeFailoverTests {
    // Without failover the connection would retry the dead node for ever: the limit turns that into a failure.
    @Test(.timeLimit(.minutes(1))) func aNodeThatDoesNotAnswerIsPassedOverForTheNext() async throws {
        let vhost = TestInfrastructure.uniqueName("amqp")
        var configuration = try await TestInfrastructure.createVhost(vhost)
        let live = AMQPConfiguration.Node(host: configuration.host, port: configuration.port)
        // Port 1 on loopback: nothing listens, the connect is refused at once.
        configuration.host = "127.0.0.1"
        configuration.port = 1
        configuration.otherNodes = [live]
        configuration.maxReconnectDelay = 0.5
        try await AMQPConnection.declare(AMQPConnectionTests.topology, configuration: configuration)

        let connection = AMQPConnection(
            configuration: configuration, topology: AMQPConnectionTests.topology, consumers: [AMQPConsumer(queue: "work")],
            logger: Logger(label: "failover-test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await connection.run() }
            await connection.waitUntilConnected()
            try await connection.publish(AMQPOutgoingMessage(
                exchange: "test.direct", routingKey: "work", body: Array("x".utf8), properties: AMQPProperties(messageID: "on-the-second-node")))
            var deliveries = connection.deliveries.makeAsyncIterator()
            #expect(await deliveries.next()?.properties.messageID == "on-the-second-node")
            group.cancelAll()
        }
        await TestInfrastructure.deleteVhost(vhost)
    }

    @Test func noNodeAnsweringNamesEveryOne() async throws {
        var configuration = AMQPConfiguration(host: "127.0.0.1", port: 1, vhost: "x")
        configuration.otherNodes = [.init(host: "127.0.0.1", port: 2)]
        await #expect {
            try await AMQPConnection.declare(AMQPConnectionTests.topology, configuration: configuration)
        } throws: { error in
            "\(error)".contains("127.0.0.1:1") && "\(error)".contains("127.0.0.1:2")
        }
    }
}
