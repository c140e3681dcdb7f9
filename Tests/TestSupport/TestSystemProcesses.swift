import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Messaging
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

    /// Whether `http://127.0.0.1:<port>/ready` answered 200 within `timeout`.
    public static func becomesReady(port: Int, timeout: Duration = .seconds(60)) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(100)) {
            guard let (_, response) = try? await URLSession.shared.fetch(URL(string: "http://127.0.0.1:\(port)/ready")!) else { return false }
            return (response as? HTTPURLResponse)?.statusCode == 200
        }
    }
}
