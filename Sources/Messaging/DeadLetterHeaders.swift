import AMQP
import Foundation

/// Why a message is in a dead-letter queue: the headers a consumer adds to the copy it
/// dead-letters, read back by `saga-status dlq` and removed again when the message is replayed.
public struct DeadLetterHeaders: Sendable, Equatable {
    /// The handler's error, or what made the message malformed (`x-error`).
    public var error: String
    /// Attempts made before it was given up (`x-attempts`).
    public var attempts: Int
    /// The queue it was taken from, where a replay sends it back (`x-original-queue`).
    public var queue: String
    /// When it was dead-lettered (`x-dead-lettered-at`, milliseconds since 1970).
    public var at: Date

    public static let errorHeader = "x-error"
    public static let attemptsHeader = "x-attempts"
    public static let queueHeader = "x-original-queue"
    public static let atHeader = "x-dead-lettered-at"
    /// Every header this type writes, and the broker's own record of dead-lettering.
    public static let all = [errorHeader, attemptsHeader, queueHeader, atHeader, "x-death", "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange"]

    /// The longest error text kept: a header is not a log file.
    static let errorLimit = 2000

    public init(error: String, attempts: Int, queue: String, at: Date) {
        self.error = error
        self.attempts = attempts
        self.queue = queue
        self.at = at
    }

    /// Reads them back; `nil` when the message carries none (the broker dead-lettered it itself).
    public init?(_ headers: [String: AMQPHeaderValue]) {
        guard case .string(let error)? = headers[Self.errorHeader], case .string(let queue)? = headers[Self.queueHeader] else { return nil }
        self.error = error
        self.queue = queue
        if case .int(let attempts)? = headers[Self.attemptsHeader] { self.attempts = Int(attempts) } else { self.attempts = 0 }
        if case .int(let milliseconds)? = headers[Self.atHeader] {
            self.at = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        } else {
            self.at = Date(timeIntervalSince1970: 0)
        }
    }

    public func write(into headers: inout [String: AMQPHeaderValue]) {
        headers[Self.errorHeader] = .string(error.count > Self.errorLimit ? String(error.prefix(Self.errorLimit)) + "…" : error)
        headers[Self.attemptsHeader] = .int(Int64(attempts))
        headers[Self.queueHeader] = .string(queue)
        headers[Self.atHeader] = .int(Int64((at.timeIntervalSince1970 * 1000).rounded()))
    }
}
