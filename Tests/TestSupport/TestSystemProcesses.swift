import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Messaging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Provisioning

/// The services of a ``TestSystem`` as the shipped binary runs them: each its own process with its
/// own credentials, as `scripts/run` starts them.
extension TestSystem {
    public static let binary = repositoryRoot.appendingPathComponent(".build/debug/ordersaga")

    /// `ordersaga <arguments>` connected as the service that owns `database`, with `environment`
    /// added to the test's own.
    /// `log`: a file its standard output and error go to (by default, the test's own).
    public func launch(
        _ arguments: [String], as database: String, logLevel: String = "error", environment: [String: String] = [:], log: URL? = nil
    ) throws -> Process {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments + ["--postgres-url", url(database), "--amqp-url", amqpURL(of: database), "--log-level", logLevel]
        // The notification worker's messages go where this system's own do, not into the working directory.
        let mail = ["ORDERSAGA_NOTIFICATION_MAIL_DIRECTORY": mailDirectory.path]
        process.environment = ProcessInfo.processInfo.environment.merging(mail) { $1 }.merging(environment) { $1 }
        if let log {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
        }
        try process.run()
        return process
    }

    /// The order service on `port` and the five workers (without their HTTP ports), as processes.
    public func launchAll(port: Int, extra: [String] = [], logLevel: String = "error", environment: [String: String] = [:]) throws -> [Process] {
        var processes = [try launch(
            ["order-service", "--port", String(port), "--sagas", Self.repositoryRoot.appendingPathComponent("sagas").path] + extra,
            as: "order", logLevel: logLevel, environment: environment)]
        for participant in SagaTopology.participants {
            processes.append(try launch(
                ["worker", participant, "--set", "worker.httpPort=-1"] + extra, as: participant, logLevel: logLevel, environment: environment))
        }
        return processes
    }

    /// POSTs checkout `body` to the order service on `port` with ``adminKey`` and `headers`, as a
    /// client does; the status and body it answered, `nil` when it did not answer.
    public func postCheckout(port: Int, _ body: String, headers: [String: String] = [:]) async -> (status: Int, body: Data)? {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/checkout")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(adminKey)", forHTTPHeaderField: "Authorization")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = Data(body.utf8)
        guard let (data, response) = try? await URLSession.shared.fetch(request) else { return nil }
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// `GET http://127.0.0.1:<port><path>` without a key: its status and body, `nil` when nothing answered.
    public static func get(port: Int, _ path: String) async -> (status: Int, body: String)? {
        guard let (data, response) = try? await URLSession.shared.fetch(URL(string: "http://127.0.0.1:\(port)\(path)")!) else { return nil }
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Whether `http://127.0.0.1:<port>/ready` answered 200 within `timeout`.
    public static func becomesReady(port: Int, timeout: Duration = .seconds(60)) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(100)) { await get(port: port, "/ready")?.status == 200 }
    }
}

/// Ports for the services a test starts: below the kernel's ephemeral range (32768 and up, where
/// every outgoing connection takes one: a worker given one of those found it taken), clear of the
/// test profile's infrastructure (15431, 15661, 15681), free when handed out, and never handed out
/// twice in this test process.
public enum TestPorts {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port no other test of this run was given and nothing listens on now.
    public static func next() -> Int {
        while true {
            // 10000–19999 less 15000–15999: other tests still pick their own in 20000–29999.
            let port = Int.random(in: 10_000..<20_000)
            guard !(15_000..<16_000).contains(port), handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if isFree(port) { return port }
        }
    }

    private static func isFree(_ port: Int) -> Bool {
        guard let fd = bound(port) else { return false }
        close(fd)
        return true
    }

    /// A socket listening on 127.0.0.1:`port`, as another process's would (close it when done);
    /// `nil` when the port is taken.
    public static func listen(on port: Int) -> Int32? {
        guard let fd = bound(port) else { return nil }
        guard Glibc.listen(fd, 1) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// A socket bound to 127.0.0.1:`port`, or `nil` when that fails.
    private static func bound(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}
