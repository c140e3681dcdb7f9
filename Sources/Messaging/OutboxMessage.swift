import AMQP
import Foundation
import Postgres

/// A message written to a service's `outbox` table in the same transaction as the state change
/// that causes it; ``OutboxRelay`` publishes it after the commit.
public struct OutboxMessage: Sendable, Equatable {
    /// Stable across resends: the consumer's inbox drops a second copy.
    public var messageID: String
    public var exchange: String
    public var routingKey: String
    public var type: String
    public var correlationID: String?
    public var replyTo: String?
    /// False for domain events: a topic nobody subscribes to is not an error.
    public var mandatory: Bool
    public var headers: [String: AMQPHeaderValue]
    /// JSON.
    public var body: String

    public init(
        messageID: String, exchange: String, routingKey: String, type: String, correlationID: String?,
        replyTo: String? = nil, mandatory: Bool = true, headers: [String: AMQPHeaderValue] = [:], body: String
    ) {
        self.mandatory = mandatory
        self.messageID = messageID
        self.exchange = exchange
        self.routingKey = routingKey
        self.type = type
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.headers = headers
        self.body = body
    }

    /// The message as the relay publishes it, stamped `now`.
    public func outgoing(at now: Date) -> AMQPOutgoingMessage {
        AMQPOutgoingMessage(
            exchange: exchange, routingKey: routingKey, body: Array(body.utf8),
            properties: AMQPProperties(
                messageID: messageID, correlationID: correlationID, type: type, contentType: "application/json", replyTo: replyTo,
                timestamp: now, headers: headers),
            mandatory: mandatory)
    }
}

/// The outbox table of a service's database.
public enum Outbox {
    /// Adds messages in one statement, inside the caller's transaction. A message whose id is
    /// already there is not added again. The statement goes with the transaction's next one or
    /// its COMMIT (``PostgresConnection/send(_:_:)``): a command's reply costs no round trip.
    public static func insert(_ messages: [OutboxMessage], on connection: PostgresConnection) throws {
        guard !messages.isEmpty else { return }
        let (sql, parameters) = try insertStatement(messages, firstParameter: 1)
        try connection.send(sql, parameters)
    }

    /// The INSERT of `messages`, using parameters `$first` to `$first+8`, for a caller that writes
    /// it together with other changes in one statement (a writable CTE). No messages insert nothing.
    public static func insertStatement(_ messages: [OutboxMessage], firstParameter first: Int) throws -> (sql: String, parameters: [any PostgresParameter]) {
        let headers = try messages.map { message -> String in
            let json = message.headers.mapValues { value -> HeaderJSON in
                switch value {
                case .string(let text): .string(text)
                case .int(let number): .int(number)
                case .bool(let flag): .bool(flag)
                }
            }
            return String(decoding: try JSONEncoder().encode(json), as: UTF8.self)
        }
        let types = ["text", "text", "text", "text", "text", "text", "jsonb", "text", "boolean"]
        let arrays = types.enumerated().map { "$\(first + $0.offset)::\($0.element)[]" }.joined(separator: ", ")
        return (
            """
            INSERT INTO outbox (message_id, exchange, routing_key, type, correlation_id, reply_to, headers, body, mandatory)
            SELECT * FROM unnest(\(arrays)) ON CONFLICT (message_id) DO NOTHING
            """,
            [
                messages.map(\.messageID), messages.map(\.exchange), messages.map(\.routingKey), messages.map(\.type),
                messages.map(\.correlationID), messages.map(\.replyTo), headers, messages.map(\.body), messages.map(\.mandatory),
            ])
    }

    /// A header value as stored in the `headers` jsonb column.
    enum HeaderJSON: Codable {
        case string(String), int(Int64), bool(Bool)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) { self = .bool(flag) }
            else if let number = try? container.decode(Int64.self) { self = .int(number) }
            else { self = .string(try container.decode(String.self)) }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let text): try container.encode(text)
            case .int(let number): try container.encode(number)
            case .bool(let flag): try container.encode(flag)
            }
        }

        var value: AMQPHeaderValue {
            switch self {
            case .string(let text): .string(text)
            case .int(let number): .int(number)
            case .bool(let flag): .bool(flag)
            }
        }
    }
}

/// The inbox table: one row per message a service has handled.
public enum Inbox {
    /// Records `messageID` in the caller's transaction. Returns false when it was there already:
    /// the message is a duplicate and must have no second effect.
    public static func claim(_ messageID: String, type: String, on connection: PostgresConnection) throws -> Bool {
        let rows = try connection.query(
            "INSERT INTO inbox (message_id, type) VALUES ($1, $2) ON CONFLICT (message_id) DO NOTHING",
            [messageID, type])
        return rows.affectedRows == 1
    }

    /// Records several messages in one statement; returns the ids that were not there yet (an id
    /// given twice is claimed once).
    public static func claim(_ messages: [(id: String, type: String)], on connection: PostgresConnection) throws -> Set<String> {
        guard !messages.isEmpty else { return [] }
        let rows = try connection.query(
            """
            INSERT INTO inbox (message_id, type) SELECT * FROM unnest($1::text[], $2::text[])
            ON CONFLICT (message_id) DO NOTHING RETURNING message_id
            """, [messages.map(\.id), messages.map(\.type)])
        return Set(try rows.map { try $0.string("message_id") })
    }
}
