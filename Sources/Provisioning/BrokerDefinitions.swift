import AMQP
import Crypto
import Foundation
import Messaging

/// What ``Provisioner/setUpBroker(_:)`` creates, as a RabbitMQ definitions file: the vhost, the
/// administrator and one user per service with the rights of ``SagaTopology/permissions(of:)``, and
/// every exchange, queue and binding of ``SagaTopology/all``. RabbitMQ loads it at boot
/// (`load_definitions`), which is how `docker-compose.yml` sets up its broker; `ordersaga
/// definitions` writes it, and a test keeps `deploy/rabbitmq/definitions.json` equal to it.
///
/// Passwords are stored as RabbitMQ's salted SHA-256 hashes, never in clear. The salt comes from
/// the user and password, so the same accounts always give the same file.
public struct BrokerDefinitions: Sendable {
    public var vhost: String
    public var administrator: (user: String, password: String)
    public var accounts: [ServiceAccount]
    public var topology: AMQPTopology

    public init(
        vhost: String, administrator: (user: String, password: String), accounts: [ServiceAccount],
        topology: AMQPTopology = SagaTopology.all
    ) {
        self.vhost = vhost
        self.administrator = administrator
        self.accounts = accounts
        self.topology = topology
    }

    /// The file's text: pretty-printed JSON with sorted keys, ending in a newline.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }

    var document: Document {
        var users = [User(name: administrator.user, password: administrator.password, tags: "administrator")]
        var permissions = [Permission(user: administrator.user, vhost: vhost, configure: ".*", write: ".*", read: ".*")]
        for account in accounts {
            users.append(User(name: account.amqpUser, password: account.amqpPassword, tags: ""))
            if let rights = SagaTopology.permissions(of: account.service) {
                permissions.append(Permission(user: account.amqpUser, vhost: vhost, configure: rights.configure, write: rights.write, read: rights.read))
            }
        }
        return Document(
            users: users, vhosts: [.init(name: vhost)], permissions: permissions,
            exchanges: topology.exchanges.map { Exchange(name: $0.name, vhost: vhost, type: $0.kind.rawValue) },
            queues: topology.queues.map { Queue(name: $0.name, vhost: vhost, arguments: $0.arguments.mapValues(Argument.init)) },
            bindings: topology.bindings.map { Binding(source: $0.exchange, vhost: vhost, destination: $0.queue, routing_key: $0.routingKey) })
    }

    /// RabbitMQ's `rabbit_password_hashing_sha256`: base64 of a 4-byte salt followed by
    /// SHA-256(salt + password).
    public static func passwordHash(user: String, password: String) -> String {
        let salt = Array(SHA256.hash(data: Data("ordersaga-salt:\(user):\(password)".utf8)).prefix(4))
        let digest = SHA256.hash(data: salt + Array(password.utf8))
        return Data(salt + Array(digest)).base64EncodedString()
    }

    // The file's shape, as RabbitMQ's `rabbitmqctl export_definitions` writes it.
    struct Document: Encodable {
        var users: [User]
        var vhosts: [Vhost]
        var permissions: [Permission]
        var exchanges: [Exchange]
        var queues: [Queue]
        var bindings: [Binding]
    }

    struct User: Encodable {
        var name: String
        var password_hash: String
        var hashing_algorithm = "rabbit_password_hashing_sha256"
        var tags: String
        init(name: String, password: String, tags: String) {
            self.name = name
            self.password_hash = BrokerDefinitions.passwordHash(user: name, password: password)
            self.tags = tags
        }
    }

    struct Vhost: Encodable { var name: String }

    struct Permission: Encodable {
        var user: String
        var vhost: String
        var configure: String
        var write: String
        var read: String
    }

    struct Exchange: Encodable {
        var name: String
        var vhost: String
        var type: String
        var durable = true
        var auto_delete = false
        var `internal` = false
        var arguments: [String: String] = [:]
    }

    struct Queue: Encodable {
        var name: String
        var vhost: String
        var durable = true
        var auto_delete = false
        var arguments: [String: Argument]
    }

    /// A queue argument as JSON: text, a number or a flag.
    struct Argument: Encodable {
        let value: AMQPHeaderValue
        init(_ value: AMQPHeaderValue) { self.value = value }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch value {
            case .string(let text): try container.encode(text)
            case .int(let number): try container.encode(number)
            case .bool(let flag): try container.encode(flag)
            }
        }
    }

    struct Binding: Encodable {
        var source: String
        var vhost: String
        var destination: String
        var destination_type = "queue"
        var routing_key: String
        var arguments: [String: String] = [:]
    }
}
