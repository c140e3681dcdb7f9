import Foundation

/// A header value. AMQP tables hold more kinds; these are the ones OrderSaga writes and reads.
public enum AMQPHeaderValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)

    public var description: String {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        case .bool(let value): String(value)
        }
    }
}

/// The AMQP basic properties OrderSaga uses. Messages are persistent unless said otherwise.
public struct AMQPProperties: Sendable, Equatable {
    public var messageID: String?
    public var correlationID: String?
    public var type: String?
    public var contentType: String?
    public var replyTo: String?
    public var appID: String?
    /// Whole seconds, as AMQP carries them.
    public var timestamp: Date?
    public var persistent: Bool
    public var headers: [String: AMQPHeaderValue]

    public init(
        messageID: String? = nil,
        correlationID: String? = nil,
        type: String? = nil,
        contentType: String? = nil,
        replyTo: String? = nil,
        appID: String? = nil,
        timestamp: Date? = nil,
        persistent: Bool = true,
        headers: [String: AMQPHeaderValue] = [:]
    ) {
        self.messageID = messageID
        self.correlationID = correlationID
        self.type = type
        self.contentType = contentType
        self.replyTo = replyTo
        self.appID = appID
        self.timestamp = timestamp
        self.persistent = persistent
        self.headers = headers
    }
}

/// A message to publish.
public struct AMQPOutgoingMessage: Sendable, Equatable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: AMQPProperties
    /// With `mandatory` (the default) a message no queue receives fails instead of being confirmed.
    /// Turn it off only for pub/sub events, which may have no subscriber.
    public var mandatory: Bool

    public init(exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties, mandatory: Bool = true) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}

/// A message received from a queue. Ack or reject it through the connection that delivered it.
public struct AMQPDelivery: Sendable {
    public let queue: String
    public let exchange: String
    public let routingKey: String
    public let body: [UInt8]
    public let properties: AMQPProperties
    public let redelivered: Bool
    let deliveryTag: UInt64
    /// Which connection (counted from 1 at each reconnect) delivered it: a tag means nothing on another.
    let generation: Int
}
