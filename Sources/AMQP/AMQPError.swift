/// An error from the broker or from rabbitmq-c, saying what failed in the broker's own words.
public struct AMQPError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable, Equatable {
        case connectionFailed
        case connectionLost
        case notConnected
        case serverClosed
        case nacked
        case unroutable
        case shutdown
    }

    private let code: Code
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func connectionFailed(_ message: String) -> Self { .init(.connectionFailed, message) }
    static func connectionLost(_ message: String) -> Self { .init(.connectionLost, message) }
    static var notConnected: Self { .init(.notConnected, "not connected to the broker") }
    static func serverClosed(_ message: String) -> Self { .init(.serverClosed, message) }
    static var nacked: Self { .init(.nacked, "the broker refused the message (basic.nack)") }
    static func unroutable(_ message: String) -> Self { .init(.unroutable, message) }
    static var shutdown: Self { .init(.shutdown, "the connection is shutting down") }

    /// True when no connection could be opened (the node did not answer, or refused the login).
    public var isConnectionFailure: Bool { code == .connectionFailed }

    /// True when the broker returned the message because no queue was bound for it.
    public var isUnroutable: Bool { code == .unroutable }

    public var description: String {
        switch code {
        case .connectionFailed: "AMQP connection failed: \(message)"
        case .connectionLost: "AMQP connection lost: \(message)"
        case .notConnected: "AMQP: \(message)"
        case .serverClosed: "AMQP broker closed the connection: \(message)"
        case .nacked: "AMQP publish failed: \(message)"
        case .unroutable: "AMQP publish failed: unroutable: \(message)"
        case .shutdown: "AMQP: \(message)"
        }
    }
}
