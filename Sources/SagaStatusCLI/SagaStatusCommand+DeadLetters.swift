import AMQP
import ArgumentParser
import DeadLetters
import Foundation
import Logging

/// Where RabbitMQ is, as its administrator: dead-letter queues are read through the management API
/// and replayed through AMQP.
struct BrokerOptions: ParsableArguments {
    static let defaultManagementURL = "http://127.0.0.1:15680"
    static let defaultAMQPURL = "amqp://admin:ordersaga-admin@127.0.0.1:15660/ordersaga"

    @Option(name: .customLong("management-url"), help: "RabbitMQ's management API (default: $ORDERSAGA_MANAGEMENT_URL or \(defaultManagementURL)).")
    var managementURL: String?

    @Option(name: .customLong("amqp-admin-url"), help: "The RabbitMQ administrator's URL of the vhost; its user and password also sign in to the management API (default: $ORDERSAGA_AMQP_ADMIN_URL or the local one scripts/run starts).")
    var amqpURL: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func queues() throws -> DeadLetterQueues {
        let environment = ProcessInfo.processInfo.environment
        let management = managementURL ?? environment["ORDERSAGA_MANAGEMENT_URL"] ?? Self.defaultManagementURL
        let amqp = amqpURL ?? environment["ORDERSAGA_AMQP_ADMIN_URL"] ?? Self.defaultAMQPURL
        do {
            return DeadLetterQueues(managementURL: management, amqp: try AMQPConfiguration(url: amqp))
        } catch {
            throw ValidationError("--amqp-admin-url: \(error)")
        }
    }
}

extension SagaStatusCommand {
    struct DLQ: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dlq",
            abstract: "See, replay and purge dead-lettered messages, with why each failed.",
            discussion: """
                Every queue has a dead-letter queue, <queue>.dlq. A message lands there when its handler \
                failed past its attempts or it could not be read; its x-error header says why.

                Examples:
                  saga-status dlq list
                  saga-status dlq show catalog.commands.dlq 6f1c…:reserve-inventory:command:1
                  saga-status dlq replay catalog.commands.dlq --all
                  saga-status dlq purge catalog.commands.dlq
                """,
            subcommands: [List.self, Show.self, Replay.self, Purge.self])
    }
}

extension SagaStatusCommand.DLQ {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead-lettered messages: queue, message id, saga, step, attempts, age and error.",
            discussion: "Example: saga-status dlq list --queue identity.commands.dlq")

        @Option(help: "Only this dead-letter queue.") var queue: String?
        @Option(help: "At most this many messages per queue (1 to 10000).") var limit = 50
        @OptionGroup var broker: BrokerOptions

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
        }

        func run() async throws {
            try await reporting {
                let queues = try broker.queues()
                let depths = try await dlqCall { try await queues.depths() }
                if let queue, !depths.contains(where: { $0.queue == queue }) {
                    throw CLIError("\"\(queue)\" is not a dead-letter queue; one of: \(depths.map(\.queue).joined(separator: ", "))")
                }
                var letters: [DeadLetter] = []
                for (name, messages) in depths where (queue == nil || name == queue) && messages > 0 {
                    letters += try await dlqCall { try await queues.peek(name, limit: limit) }
                }
                if broker.json {
                    print(DeadLetterFormatter.json(letters))
                } else {
                    print(DeadLetterFormatter.render(depths: depths.filter { queue == nil || $0.queue == queue }, letters: letters))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one dead-lettered message: its error, properties, headers and body.",
            discussion: "Example: saga-status dlq show catalog.commands.dlq 6f1c…:reserve-inventory:command:1")

        @Argument(help: "The dead-letter queue.") var queue: String
        @Argument(help: "The message's id.") var messageID: String
        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            try await reporting {
                let letters = try await dlqCall { try await broker.queues().peek(queue, limit: 10_000) }
                guard let letter = letters.first(where: { $0.messageID == messageID }) else {
                    throw CLIError("no message \(messageID) in \(queue) (\(letters.count) message(s) there; see `saga-status dlq list --queue \(queue)`)")
                }
                print(broker.json ? DeadLetterFormatter.json([letter]) : DeadLetterFormatter.render(letter))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead-lettered messages back to the queue they came from.",
            discussion: """
                Each leaves the dead-letter queue only after the broker took the copy sent back, and \
                repeating a replay is harmless: a consumer drops a message it already handled.

                Examples:
                  saga-status dlq replay catalog.commands.dlq \\
                    --id 6f1c…:reserve-inventory:command:1
                  saga-status dlq replay catalog.commands.dlq --all
                """)

        @Argument(help: "The dead-letter queue.") var queue: String
        @Option(name: .customLong("id"), help: "A message id to replay (repeat for several).") var ids: [String] = []
        @Flag(help: "Replay every message in the queue.") var all = false
        @OptionGroup var broker: BrokerOptions

        func validate() throws {
            guard all != !ids.isEmpty else { throw ValidationError("give --id ID (one or more) or --all") }
        }

        func run() async throws {
            try await reporting {
                var logger = Logger(label: "saga-status")
                logger.logLevel = .warning
                let report = try await dlqCall { try await broker.queues().replay(queue, ids: all ? nil : Set(ids), logger: logger) }
                let missing = Set(ids).subtracting(report.replayed)
                print("replayed \(report.replayed.count) message(s) from \(queue); \(report.left) left there")
                if !missing.isEmpty {
                    throw CLIError("not found in \(queue): \(missing.sorted().joined(separator: ", "))")
                }
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every message of a dead-letter queue, after you confirm.",
            discussion: "Example: saga-status dlq purge catalog.commands.dlq   (asks you to type the queue's name; --yes skips that)")

        @Argument(help: "The dead-letter queue.") var queue: String
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            try await reporting {
                let queues = try broker.queues()
                let held = try await dlqCall { try await queues.depths() }.first { $0.queue == queue }?.messages
                guard let held else {
                    throw CLIError("\"\(queue)\" is not a dead-letter queue; see `saga-status dlq list`")
                }
                if !yes {
                    guard isatty(STDIN_FILENO) == 1 else {
                        throw CLIError("purging deletes \(held) message(s) for good: confirm on a terminal, or pass --yes")
                    }
                    print("Delete the \(held) message(s) in \(queue) for good? Type the queue's name to confirm: ", terminator: "")
                    guard readLine()?.trimmingCharacters(in: .whitespaces) == queue else {
                        throw CLIError("not confirmed; nothing was deleted")
                    }
                }
                let purged = try await dlqCall { try await queues.purge(queue) }
                print("purged \(purged) message(s) from \(queue)")
            }
        }
    }
}

/// Runs a dead-letter call; its errors become the CLI's.
private func dlqCall<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as CLIError {
        throw error
    } catch {
        throw CLIError("\(error)")
    }
}
