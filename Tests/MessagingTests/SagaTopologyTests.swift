import AMQP
import Foundation
import Messaging
import Testing

/// `ordersaga setup` declares the whole topology as the administrator; each service only checks
/// its part and holds the rights to publish and consume what it must, and nothing else.
@Suite struct SagaTopologyTests {
    @Test(arguments: SagaTopology.participants)
    func workerChecksOnlyItsOwnPartOfTheWhole(_ participant: String) {
        let all = SagaTopology.all
        let own = SagaTopology.forParticipant(participant)
        #expect(own.passive)
        #expect(own.bindings.isEmpty)
        #expect(own.exchanges.allSatisfy(all.exchanges.contains))
        #expect(own.queues.allSatisfy(all.queues.contains))
        let ownQueues = [SagaTopology.commandQueue(participant)] + SagaTopology.eventQueues(of: participant)
        #expect(Set(own.queues.map(\.name)) == Set(ownQueues + ownQueues.map(SagaTopology.deadLetterQueue)))
        // Only a subscriber checks the events exchange.
        #expect(own.exchanges.contains { $0.name == SagaTopology.eventsExchange } == !SagaTopology.eventQueues(of: participant).isEmpty)
    }

    @Test func orderServiceChecksEverythingAndDeclaresNothing() {
        #expect(SagaTopology.forOrderService.passive)
        #expect(SagaTopology.forOrderService.queues == SagaTopology.all.queues)
        #expect(!SagaTopology.all.passive)
    }

    @Test func quorumQueuesAreDeclaredWithTheirTypeAndAWorkQueueWithItsDeliveryLimit() {
        let quorum = SagaTopology.all(queues: .quorum, deliveryLimit: 9)
        #expect(quorum.queues.map(\.name) == SagaTopology.all.queues.map(\.name))
        #expect(quorum.bindings == SagaTopology.all.bindings)
        for queue in quorum.queues {
            #expect(queue.arguments["x-queue-type"] == .string("quorum"))
            // What reaches a dead-letter queue stays there for an operator, however often it is read.
            #expect(queue.arguments["x-delivery-limit"] == (queue.name.hasSuffix(".dlq") ? nil : .int(9)), "\(queue.name)")
        }
        // Classic queues are declared exactly as before: no type argument, no limit.
        #expect(SagaTopology.all.queues.allSatisfy { $0.arguments["x-queue-type"] == nil && $0.arguments["x-delivery-limit"] == nil })
        #expect(SagaTopology.all(queues: .classic, deliveryLimit: 9).queues == SagaTopology.all.queues)
    }

    @Test func cancelledOrdersReachTheNotificationWorker() {
        #expect(SagaTopology.all.bindings.contains(
            .init(queue: "notification.events", exchange: SagaTopology.eventsExchange, routingKey: "order.cancelled")))
        #expect(SagaTopology.eventQueues(of: "notification") == ["notification.events"])
        #expect(SagaTopology.eventQueues(of: "catalog") == [])
    }

    /// Whether RabbitMQ's pattern (an Erlang regular expression, PCRE-like) matches `name`.
    func matches(_ pattern: String, _ name: String) throws -> Bool {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }

    @Test func everyServiceMayConfigureNothing() throws {
        for service in [SagaTopology.orderServiceUser] + SagaTopology.participants {
            let rights = try #require(SagaTopology.permissions(of: service))
            for name in SagaTopology.all.queues.map(\.name) + SagaTopology.all.exchanges.map(\.name) {
                #expect(try !matches(rights.configure, name), "\(service) may configure \(name)")
            }
        }
        #expect(SagaTopology.permissions(of: "someone-else") == nil)
    }

    @Test func orderServiceWritesCommandsEventsAndDeadLettersAndReadsOnlyItsReplies() throws {
        let rights = try #require(SagaTopology.permissions(of: SagaTopology.orderServiceUser))
        let names = SagaTopology.all.queues.map(\.name) + SagaTopology.all.exchanges.map(\.name)
        #expect(try names.filter { try matches(rights.write, $0) }.sorted()
            == [SagaTopology.commandsExchange, SagaTopology.deadLetterExchange, SagaTopology.eventsExchange].sorted())
        #expect(try names.filter { try matches(rights.read, $0) } == [SagaTopology.repliesQueue])
    }

    @Test(arguments: SagaTopology.participants)
    func workerWritesRepliesAndDeadLettersAndReadsOnlyItsOwnQueues(_ participant: String) throws {
        let rights = try #require(SagaTopology.permissions(of: participant))
        let names = SagaTopology.all.queues.map(\.name) + SagaTopology.all.exchanges.map(\.name)
        #expect(try names.filter { try matches(rights.write, $0) }.sorted() == [SagaTopology.deadLetterExchange, SagaTopology.repliesExchange].sorted())
        let own = [SagaTopology.commandQueue(participant)] + SagaTopology.eventQueues(of: participant)
        #expect(try names.filter { try matches(rights.read, $0) }.sorted() == own.sorted())
    }
}

/// A new saga's trace context: W3C `traceparent`, version 00, random ids, sampled.
@Suite struct TraceparentTests {
    @Test func aNewSagasTraceContextIsW3CAndRandom() throws {
        let pattern = try Regex("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        let made = (0..<200).map { _ in SagaMessages.newTraceparent() }
        for traceparent in made { #expect(traceparent.wholeMatch(of: pattern) != nil, "\(traceparent)") }
        #expect(Set(made).count == made.count)
        // Every hex digit turns up in both halves of a byte somewhere.
        let digits = Set(made.joined().filter(\.isHexDigit))
        #expect(digits == Set("0123456789abcdef"))
    }
}

