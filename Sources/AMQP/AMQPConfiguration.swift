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
    /// More nodes of the same cluster, tried in turn after ``host``:``port`` when a connection
    /// fails or is lost (`amqp://user:password@node1:5672,node2:5673/vhost`).
    public var otherNodes: [Node] = []
    /// What the broker shows for this connection (the management UI's "name" column), such as
    /// `order-service`; `nil` shows only its address.
    public var connectionName: String?

    /// One RabbitMQ node's address.
    public struct Node: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    /// Every node, the first one first.
    public var nodes: [Node] { [Node(host: host, port: port)] + otherNodes }

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
    /// A cluster's nodes go comma-separated where the host is: `amqp://u:p@node1:5672,node2:5673/vhost`.
    public init(url: String) throws {
        let invalid = AMQPError.connectionFailed("\"\(url)\" is not an amqp://user:password@host:port/vhost URL (nodes of a cluster: host1:port1,host2:port2)")
        // URLComponents takes one host: parse the URL with the first node, then the others.
        var first = url
        var others: [Substring] = []
        if let schemeEnd = url.range(of: "://") {
            let afterScheme = url[schemeEnd.upperBound...]
            let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
            let authority = afterScheme[..<authorityEnd]
            let hostsStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
            let hosts = authority[hostsStart...].split(separator: ",", omittingEmptySubsequences: false)
            if hosts.count > 1 {
                first = String(url[..<hostsStart]) + hosts[0] + String(url[authorityEnd...])
                others = Array(hosts.dropFirst())
            }
        }
        guard let components = URLComponents(string: first), components.scheme == "amqp", let host = components.host, !host.isEmpty else {
            throw invalid
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
        for node in others {
            let parts = node.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), !parts[0].isEmpty else { throw invalid }
            guard let port = parts.count == 2 ? Int(parts[1]) : 5672, (1...65_535).contains(port) else { throw invalid }
            otherNodes.append(Node(host: String(parts[0]), port: port))
        }
    }
}
