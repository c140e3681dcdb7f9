import AMQP
import CheckoutContracts
import Foundation
import Messaging
import Synchronization
import Testing
import TestSupport
import Workers

/// Group commit in a worker: commands that waited are handled together in one transaction, and a
/// bad one among them costs its neighbours nothing.
@Suite struct GroupCommitTests {
    /// Set once, read from any task.
    final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    /// `count` reserve commands of one mug each, one of them (at `poison`) not JSON.
    static func commands(_ count: Int, poison: Int? = nil) -> [AMQPOutgoingMessage] {
        (0..<count).map { index in
            HardCaseTests.command(
                sagaID: UUID().uuidString.lowercased(), step: "reserve-inventory", type: CatalogContract.reserveInventory, phase: "command",
                body: index == poison ? "{oops" : #"{"orderId":"o-\#(index)","items":[{"productId":"sku-mug","quantity":1}]}"#,
                participant: "catalog")
        }
    }

    /// Publishes `messages` to the catalog's queue with no worker running, then runs one that
    /// reports the size of every transaction it committed, until `done` holds.
    func drain(_ messages: [AMQPOutgoingMessage], system: TestSystem, until done: @escaping @Sendable () async -> Bool) async throws -> [Int] {
        let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
        let sizes = Mutex<[Int]>([])
        try await system.running([AMQPConnectionService(connection)]) {
            await connection.waitUntilConnected()
            for message in messages { try await connection.publish(message) }
            // One handler: the deliveries that arrive while its transaction runs wait for it, however
            // slowly the broker hands them over on a loaded machine.
            var messaging = MessagingSettings()
            messaging.concurrency = 1
            let worker = CommandWorker.build(
                configuration: WorkerConfiguration(
                    participant: "catalog", postgresURL: system.url("catalog"), amqp: system.amqp(of: "catalog"), poolSize: 2, messaging: messaging),
                handler: Workers.handler(for: "catalog")!, logger: system.logger,
                events: WorkerEvents(batch: { size in sizes.withLock { $0.append(size) } }))
            try await system.running(worker.services) {
                #expect(await eventually(timeout: .seconds(30), interval: .milliseconds(200)) { await done() })
            }
        }
        return sizes.withLock { $0 }
    }

    @Test func commandsThatWaitedAreHandledTogetherInOneTransaction() async throws {
        try await TestSystem.with { system in
            let catalog = system.pool("catalog")
            let mugs = try await catalog.query("SELECT stock FROM products WHERE id = 'sku-mug'").first!.int("stock")
            // The mug's row is held until the worker's first transaction waits on it and the broker
            // has handed the worker every command, so the rest are surely waiting when it ends,
            // however slowly a loaded machine starts the worker or delivers.
            let locked = Flag()
            let released = Flag()
            let holder = Task {
                try await catalog.withSession { session in
                    try await session.transaction { session in
                        _ = try await session.run { try $0.query("SELECT stock FROM products WHERE id = 'sku-mug' FOR UPDATE") }
                        locked.set()
                        _ = await eventually(timeout: .seconds(40), interval: .milliseconds(50)) { released.isSet }
                    }
                }
            }
            #expect(await eventually(timeout: .seconds(10), interval: .milliseconds(20)) { locked.isSet })
            let release = Task {
                // The worker's transaction waits on the row lock …
                _ = await eventually(timeout: .seconds(30), interval: .milliseconds(50)) {
                    (try? await catalog.query(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).first?.int("n")) ?? 0 >= 1
                }
                // … and every command has been delivered to it (the broker's figures lag by seconds).
                _ = await eventually(timeout: .seconds(15), interval: .milliseconds(250)) {
                    let queue = try? await TestInfrastructure.managementJSON("/api/queues/\(system.name)/catalog.commands") as? [String: Any]
                    return (queue?["messages_unacknowledged"] as? Int) == 20
                }
                released.set()
            }
            let sizes = try await drain(Self.commands(20), system: system) {
                (try? await catalog.query("SELECT count(*) AS n FROM outbox").first?.int("n")) == 20
            }
            await release.value
            try await holder.value
            // Fewer transactions than commands: at least one took several that were waiting.
            #expect(sizes.reduce(0, +) == 20)
            #expect(sizes.contains { $0 > 1 }, "transaction sizes \(sizes)")
            #expect(try await catalog.query("SELECT count(*) AS n FROM reservations").first!.int("n") == 20)
            #expect(try await catalog.query("SELECT stock FROM products WHERE id = 'sku-mug'").first!.int("stock") == mugs - 20)
        }
    }

    @Test func aBadCommandInABatchIsDeadLetteredAndItsNeighboursTakeEffectOnce() async throws {
        try await TestSystem.with { system in
            let catalog = system.pool("catalog")
            let mugs = try await catalog.query("SELECT stock FROM products WHERE id = 'sku-mug'").first!.int("stock")
            _ = try await drain(Self.commands(12, poison: 5), system: system) {
                let replies = try? await catalog.query("SELECT count(*) AS n FROM outbox").first?.int("n")
                let dead = try? await TestInfrastructure.queueDepth(vhost: system.name, queue: "catalog.commands.dlq")
                return replies == 11 && dead == 1
            }
            #expect(try await catalog.query("SELECT count(*) AS n FROM inbox").first!.int("n") == 11)
            #expect(try await catalog.query("SELECT count(*) AS n FROM reservations").first!.int("n") == 11)
            #expect(try await catalog.query("SELECT stock FROM products WHERE id = 'sku-mug'").first!.int("stock") == mugs - 11)
        }
    }
}
