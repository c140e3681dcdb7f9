import AMQP
import Messaging
import Testing

/// Each worker declares only its part of what the order service declares; its RabbitMQ user may
/// configure nothing else (scripts/lib/infra.sh), so a worker declaring more would be refused.
@Suite struct SagaTopologyTests {
    @Test(arguments: SagaTopology.participants)
    func workerTopologyIsItsOwnPartOfTheWhole(_ participant: String) {
        let all = SagaTopology.all
        let own = SagaTopology.forParticipant(participant)
        #expect(own.exchanges.allSatisfy(all.exchanges.contains))
        #expect(own.queues.allSatisfy(all.queues.contains))
        #expect(own.bindings.allSatisfy(all.bindings.contains))
        let ownQueues = [SagaTopology.commandQueue(participant)] + SagaTopology.eventQueues(of: participant)
        #expect(Set(own.queues.map(\.name)) == Set(ownQueues + ownQueues.map(SagaTopology.deadLetterQueue)))
        // Only a subscriber declares the events exchange.
        #expect(own.exchanges.contains { $0.name == SagaTopology.eventsExchange } == !SagaTopology.eventQueues(of: participant).isEmpty)
    }

    @Test func cancelledOrdersReachTheNotificationWorker() {
        #expect(SagaTopology.all.bindings.contains(
            .init(queue: "notification.events", exchange: SagaTopology.eventsExchange, routingKey: "order.cancelled")))
        #expect(SagaTopology.eventQueues(of: "notification") == ["notification.events"])
        #expect(SagaTopology.eventQueues(of: "catalog") == [])
    }
}
