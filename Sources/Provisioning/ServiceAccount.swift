import Messaging

/// One process's identities: its PostgreSQL role, which owns its database and nothing else, and its
/// RabbitMQ user, with the rights of ``SagaTopology/permissions(of:)``.
public struct ServiceAccount: Sendable, Equatable {
    /// `order-service`, or a participant's name (`catalog`); also its RabbitMQ user.
    public var service: String
    /// `order`, `catalog`, …: the folder under `schema/`.
    public var database: String
    public var postgresPassword: String
    public var amqpPassword: String

    /// The PostgreSQL role: `order_service`, `catalog_service`, …
    public var postgresRole: String { "\(database)_service" }
    public var amqpUser: String { service }

    /// The six processes with the local-development passwords `<role>-secret` and
    /// `<user>-secret` that `scripts/run`, the tests and docker-compose use.
    public static var development: [ServiceAccount] {
        SchemaMigrations.databases.map { database in
            let service = database == "order" ? SagaTopology.orderServiceUser : database
            return ServiceAccount(
                service: service, database: database,
                postgresPassword: "\(database)_service-secret", amqpPassword: "\(service)-secret")
        }
    }
}
