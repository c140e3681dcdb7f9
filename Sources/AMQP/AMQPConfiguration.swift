import Foundation

/// Where and how to connect to RabbitMQ.
public struct AMQPConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    /// Seconds between heartbeats; the connection's own thread keeps them flowing while idle.
    public var heartbeat: Int
    /// The longest wait between reconnect attempts, in seconds.
    public var maxReconnectDelay: Double

    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        user: String = "guest",
        password: String = "guest",
        vhost: String = "/",
        heartbeat: Int = 30,
        maxReconnectDelay: Double = 5
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.vhost = vhost
        self.heartbeat = heartbeat
        self.maxReconnectDelay = maxReconnectDelay
    }

    /// Parses `amqp://user:password@host:port/vhost` (the vhost percent-encoded, `%2F` for `/`).
    public init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "amqp", let host = components.host else {
            throw AMQPError.connectionFailed("\"\(url)\" is not an amqp://user:password@host:port/vhost URL")
        }
        let path = components.percentEncodedPath
        let vhost = path.isEmpty || path == "/" ? "/" : String(path.dropFirst()).removingPercentEncoding ?? "/"
        self.init(
            host: host,
            port: components.port ?? 5672,
            user: components.user ?? "guest",
            password: components.password ?? "guest",
            vhost: vhost
        )
    }
}
