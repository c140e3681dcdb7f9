import Foundation
import Retry
import Messaging

/// One message in a dead-letter queue, with why it is there.
public struct DeadLetter: Sendable, Equatable {
    /// The dead-letter queue that holds it (`catalog.commands.dlq`).
    public var queue: String
    public var messageID: String?
    /// The AMQP `type`: the command, reply or event name.
    public var type: String?
    /// The saga it belongs to (its correlation id), when it is a saga message.
    public var sagaID: String?
    public var step: String?
    /// Why it failed: the consumer's `x-error`, or the broker's reason when it dead-lettered the
    /// message itself.
    public var error: String
    /// Attempts made before it was given up (0 when not recorded).
    public var attempts: Int
    /// When it was dead-lettered, if recorded.
    public var deadLetteredAt: Date?
    /// The queue it came from, where a replay sends it back.
    public var originalQueue: String
    /// Every header, as text.
    public var headers: [String: String]
    /// The body as text (or base64 when it is not UTF-8).
    public var body: String

    /// How long ago it was dead-lettered, for people: `42s`, `5m`, `3h`, `2d`.
    public func age(now: Date = Date()) -> String {
        guard let deadLetteredAt else { return "-" }
        return Duration.seconds(Int64(now.timeIntervalSince(deadLetteredAt))).age
    }
}

extension DeadLetter {
    /// Reads a message as the management API's `get` returns it.
    init(queue: String, management message: [String: Any]) {
        let properties = message["properties"] as? [String: Any] ?? [:]
        let rawHeaders = properties["headers"] as? [String: Any] ?? [:]
        var headers: [String: String] = [:]
        for (key, value) in rawHeaders { headers[key] = Self.text(value) }
        let original = SagaTopology.originalQueue(ofDeadLetterQueue: queue)
        self.queue = queue
        messageID = properties["message_id"] as? String
        type = properties["type"] as? String
        sagaID = properties["correlation_id"] as? String
        step = rawHeaders["step"] as? String
        if let error = rawHeaders[DeadLetterHeaders.errorHeader] as? String {
            self.error = error
            attempts = (rawHeaders[DeadLetterHeaders.attemptsHeader] as? NSNumber)?.intValue ?? 0
            deadLetteredAt = (rawHeaders[DeadLetterHeaders.atHeader] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue / 1000) }
            originalQueue = rawHeaders[DeadLetterHeaders.queueHeader] as? String ?? original
        } else if let death = (rawHeaders["x-death"] as? [[String: Any]])?.first {
            // The broker dead-lettered it (a consumer could not publish the copy with the error).
            error = "\(death["reason"] as? String ?? "dead-lettered") by the broker; no error recorded"
            attempts = (death["count"] as? NSNumber)?.intValue ?? 0
            deadLetteredAt = (death["time"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
            originalQueue = death["queue"] as? String ?? original
        } else {
            error = "no reason recorded"
            attempts = 0
            deadLetteredAt = nil
            originalQueue = original
        }
        self.headers = headers
        body = message["payload"] as? String ?? ""
    }

    private static func text(_ value: Any) -> String {
        switch value {
        case let text as String: return text
        case let number as NSNumber: return number.stringValue
        default:
            guard JSONSerialization.isValidJSONObject(value), let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else {
                return "\(value)"
            }
            return String(decoding: data, as: UTF8.self)
        }
    }
}
