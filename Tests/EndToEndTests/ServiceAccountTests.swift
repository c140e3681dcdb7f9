import AMQP
import Messaging
import Postgres
import Provisioning
import Testing
import TestSupport

/// What `ordersaga setup` leaves behind, tried with the services' own credentials: each RabbitMQ
/// user can check its part of the topology but declare nothing, and each PostgreSQL role can
/// reach its own database only.
@Suite struct ServiceAccountTests {
    @Test func eachServiceChecksItsTopologyButMayDeclareNothing() async throws {
        try await TestSystem.with { system in
            try await AMQPConnection.declare(SagaTopology.forOrderService, configuration: system.amqp(of: "order"))
            for participant in SagaTopology.participants {
                try await AMQPConnection.declare(SagaTopology.forParticipant(participant), configuration: system.amqp(of: participant))
                // Declaring, even exactly what exists, is configuring: refused.
                var own = SagaTopology.forParticipant(participant)
                own.passive = false
                let error = await #expect(throws: AMQPError.self) {
                    try await AMQPConnection.declare(own, configuration: system.amqp(of: participant))
                }
                #expect(error?.description.contains("403 ACCESS_REFUSED") == true, "\(String(describing: error))")
            }
        }
    }

    @Test func aMissingQueueIsNamedWhenAServiceConnects() async throws {
        try await TestSystem.with { system in
            var topology = SagaTopology.forParticipant("catalog")
            topology.queues.append(.init(name: "catalog.nowhere"))
            let error = await #expect(throws: AMQPError.self) {
                try await AMQPConnection.declare(topology, configuration: system.amqp(of: "catalog"))
            }
            #expect(error?.description.contains("check queue catalog.nowhere") == true, "\(String(describing: error))")
            #expect(error?.description.contains("404 NOT_FOUND") == true, "\(String(describing: error))")
        }
    }

    /// A wrong administrator password ends setup with a clear error (it used to hang on the 401).
    @Test(.timeLimit(.minutes(1))) func aRefusedAdministratorIsNamed() async throws {
        var admin = TestInfrastructure.adminConfiguration(vhost: TestInfrastructure.uniqueName("setup"))
        admin.password = "wrong"
        let provisioner = Provisioner(
            postgresAdminURL: TestInfrastructure.postgresAdminURL, amqpAdmin: admin, managementURL: TestInfrastructure.managementURL)
        let error = await #expect(throws: ProvisioningError.self) { try await provisioner.setUpBroker(ServiceAccount.development) }
        #expect(error?.description.contains("refused user admin") == true, "\(String(describing: error))")
        #expect(error?.description.contains("HTTP 401") == true)
    }

    @Test func eachRoleReachesItsOwnDatabaseOnly() async throws {
        try await TestSystem.with { system in
            let own = try await system.pool("catalog").query("SELECT current_user AS role").first!.string("role")
            #expect(own == "catalog_service")
            // The catalog's role, pointed at the order database, is refused at connect.
            let foreign = system.url("catalog").replacingOccurrences(of: "_catalog", with: "_order")
            let error = await #expect(throws: PostgresError.self) {
                try await PostgresPool(conninfo: foreign, size: 1).query("SELECT 1")
            }
            #expect(error?.description.contains("permission denied") == true, "\(String(describing: error))")
        }
    }
}
