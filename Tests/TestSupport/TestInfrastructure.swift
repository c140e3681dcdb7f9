import AMQP
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Postgres
import Provisioning

/// The real PostgreSQL and RabbitMQ that `scripts/test` started, and fresh, isolated databases and
/// vhosts on them for each test. Defaults match the test profile of `scripts/lib/infra.sh`.
public enum TestInfrastructure {
    static let environment = ProcessInfo.processInfo.environment

    /// A superuser URL of the test PostgreSQL server.
    public static var postgresAdminURL: String {
        environment["ORDERSAGA_TEST_POSTGRES_URL"] ?? "postgresql://postgres:ordersaga-admin@127.0.0.1:15431/postgres"
    }

    static var amqpHost: String { environment["ORDERSAGA_TEST_AMQP_HOST"] ?? "127.0.0.1" }
    static var amqpPort: Int { Int(environment["ORDERSAGA_TEST_AMQP_PORT"] ?? "") ?? 15661 }
    public static var managementURL: String { environment["ORDERSAGA_TEST_MANAGEMENT_URL"] ?? "http://127.0.0.1:15681" }
    static let adminUser = "admin"
    static let adminPassword = environment["ORDERSAGA_TEST_AMQP_PASSWORD"] ?? "ordersaga-admin"

    /// A short unique name for databases and vhosts.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Creates an empty database and returns its URL; drop it with ``dropDatabase(_:)``.
    public static func createDatabase(_ name: String) async throws -> String {
        let admin = PostgresPool(conninfo: postgresAdminURL, size: 1)
        // Identifiers cannot be bound as parameters; `name` comes from uniqueName, never from input.
        try await admin.query("CREATE DATABASE \"\(name)\"")
        return replacingDatabase(in: postgresAdminURL, with: name)
    }

    public static func dropDatabase(_ name: String) async {
        let admin = PostgresPool(conninfo: postgresAdminURL, size: 1)
        _ = try? await admin.query("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
    }

    public static func replacingDatabase(in url: String, with name: String) -> String {
        guard let slash = url.lastIndex(of: "/") else { return url }
        return String(url[...slash]) + name
    }

    /// Creates a vhost the admin user may use and returns a configuration for it.
    public static func createVhost(_ name: String) async throws -> AMQPConfiguration {
        try await management("PUT", "/api/vhosts/\(name)", body: "{}")
        try await management("PUT", "/api/permissions/\(name)/\(adminUser)", body: #"{"configure":".*","write":".*","read":".*"}"#)
        return adminConfiguration(vhost: name)
    }

    /// The administrator's connection to `vhost`, with a quick reconnect for tests.
    public static func adminConfiguration(vhost: String) -> AMQPConfiguration {
        AMQPConfiguration(
            host: amqpHost, port: amqpPort, user: adminUser, password: adminPassword, vhost: vhost,
            heartbeat: 10, maxReconnectDelay: 1)
    }

    public static func deleteVhost(_ name: String) async {
        _ = try? await management("DELETE", "/api/vhosts/\(name)", body: nil)
    }

    /// Closes every client connection to `vhost` from the broker's side; returns how many.
    public static func closeConnections(vhost: String) async throws -> Int {
        let connections = try await managementJSON("/api/vhosts/\(vhost)/connections") as? [[String: Any]] ?? []
        for connection in connections {
            guard let name = connection["name"] as? String,
                  let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) else { continue }
            try await management("DELETE", "/api/connections/\(encoded)", body: nil)
        }
        return connections.count
    }

    /// Messages ready in a queue, from the management API (refreshed every few seconds by the broker).
    public static func queueDepth(vhost: String, queue: String) async throws -> Int {
        let document = try await managementJSON("/api/queues/\(vhost)/\(queue)") as? [String: Any]
        return document?["messages_ready"] as? Int ?? 0
    }

    /// A loopback TCP port that takes connections (the kernel completes the handshake) and never
    /// answers, as a stopped server or a host behind a dead route would.
    public static func silentListener() throws -> (socket: Int32, port: Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard listener >= 0, bound, listen(listener, 16) == 0 else {
            close(listener)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Reads a JSON document of the management API (queues, message counts).
    public static func managementJSON(_ path: String) async throws -> Any {
        let data = try await management("GET", path, body: nil)
        return try JSONSerialization.jsonObject(with: data)
    }

    @discardableResult
    public static func management(_ method: String, _ path: String, body: String?) async throws -> Data {
        var request = URLRequest(url: URL(string: managementURL + path)!)
        request.httpMethod = method
        let credentials = Data("\(adminUser):\(adminPassword)".utf8).base64EncodedString()
        request.setValue("Basic \(credentials)", forHTTPHeaderField: "Authorization")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.utf8)
        }
        let (data, response) = try await URLSession.shared.fetch(request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw ManagementError(description: "\(method) \(path): HTTP \(status) \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }

    struct ManagementError: Error, CustomStringConvertible {
        let description: String
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(
    timeout: Duration = .seconds(20),
    interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
