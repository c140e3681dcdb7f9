import AMQP
import Foundation
import Messaging
import Postgres

/// Sets up what the services need and may not create themselves, as the administrators of
/// PostgreSQL and RabbitMQ: per service a login role that owns its database, its migrations (and
/// demo data), and in the vhost a user with only the rights it needs, and the whole topology.
/// Every step is idempotent, so it runs before every start. `ordersaga setup` and the tests call it.
public struct Provisioner: Sendable {
    /// A superuser's URL of the PostgreSQL server (any database; `postgres` will do).
    public var postgresAdminURL: String
    /// The administrator's connection to the vhost to set up.
    public var amqpAdmin: AMQPConfiguration
    /// `http://host:port` of RabbitMQ's management API; the administrator's credentials are those of ``amqpAdmin``.
    public var managementURL: String
    /// The database of each service's schema folder: `catalog` → `catalog_db`.
    public var databaseName: @Sendable (String) -> String

    public init(
        postgresAdminURL: String, amqpAdmin: AMQPConfiguration, managementURL: String,
        databaseName: @escaping @Sendable (String) -> String = { "\($0)_db" }
    ) {
        self.postgresAdminURL = postgresAdminURL
        self.amqpAdmin = amqpAdmin
        self.managementURL = managementURL
        self.databaseName = databaseName
    }

    public var vhost: String { amqpAdmin.vhost }

    // MARK: PostgreSQL

    /// Creates the role and the database of each account (if missing), lets only that role
    /// connect, then migrates (and seeds) each database as its own role.
    /// Returns, per database, the migrations it applied.
    @discardableResult
    public func setUpDatabases(_ accounts: [ServiceAccount], schemaDirectory: URL, seed: Bool) async throws -> [(database: String, applied: [String])] {
        let admin = PostgresPool(conninfo: postgresAdminURL, size: 1, label: "setup")
        var results: [(String, [String])] = []
        for account in accounts {
            let database = databaseName(account.database)
            // Identifiers and the password cannot be bound as parameters: they come from this
            // package's own constants and the test names it makes, never from a request.
            try await admin.query("""
                DO $$ BEGIN
                    CREATE ROLE \(account.postgresRole) LOGIN PASSWORD \(Self.literal(account.postgresPassword));
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made already, maybe just now
                END $$
                """)
            if try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]).isEmpty {
                do {
                    try await admin.query("CREATE DATABASE \"\(database)\" OWNER \(account.postgresRole)")
                } catch let error as PostgresError where error.sqlState == "42P04" {}  // made by a concurrent setup
            }
            try await admin.query("REVOKE ALL ON DATABASE \"\(database)\" FROM PUBLIC")
            try await admin.query("GRANT CONNECT, TEMPORARY ON DATABASE \"\(database)\" TO \(account.postgresRole)")
            let applied = try await SchemaMigrations.apply(
                schemaDirectory: schemaDirectory, database: account.database,
                pool: PostgresPool(conninfo: postgresURL(of: account), size: 1, label: "setup"), seed: seed,
                migrator: PostgresMigrator())
            results.append((account.database, applied))
        }
        return results
    }

    /// The URL `account`'s process connects with: the server of ``postgresAdminURL``, its own
    /// role and database.
    public func postgresURL(of account: ServiceAccount) -> String {
        var components = URLComponents(string: postgresAdminURL) ?? URLComponents()
        components.user = account.postgresRole
        components.password = account.postgresPassword
        components.path = "/" + databaseName(account.database)
        return components.string ?? postgresAdminURL
    }

    /// `'text'` with its quotes doubled.
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    // MARK: RabbitMQ

    /// Creates the vhost, each account's user with its rights in it, and declares `topology`.
    public func setUpBroker(_ accounts: [ServiceAccount], topology: AMQPTopology = SagaTopology.all) async throws {
        let management = RabbitMQManagement(baseURL: managementURL, user: amqpAdmin.user, password: amqpAdmin.password)
        try await management.putVhost(vhost)
        try await management.putPermissions(vhost: vhost, user: amqpAdmin.user, configure: ".*", write: ".*", read: ".*")
        for account in accounts {
            guard let rights = SagaTopology.permissions(of: account.service) else {
                throw ProvisioningError("no RabbitMQ rights are defined for service \(account.service)")
            }
            try await management.putUser(account.amqpUser, password: account.amqpPassword)
            try await management.putPermissions(
                vhost: vhost, user: account.amqpUser, configure: rights.configure, write: rights.write, read: rights.read)
        }
        do {
            try await AMQPConnection.declare(topology, configuration: amqpAdmin)
        } catch {
            var hint = ""
            if "\(error)".contains("x-queue-type") {
                hint = " (the queues exist with another type: a queue's type cannot change; delete the queues, or keep amqp.queueType)"
            }
            throw ProvisioningError("declaring the topology in vhost \(vhost) as \(amqpAdmin.user): \(error)\(hint)")
        }
    }

    /// How `account`'s process connects to the vhost.
    public func amqpConfiguration(of account: ServiceAccount) -> AMQPConfiguration {
        var configuration = amqpAdmin
        configuration.user = account.amqpUser
        configuration.password = account.amqpPassword
        return configuration
    }
}
