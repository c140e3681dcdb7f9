import AMQP
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Postgres
import Provisioning
import SagaInvariants

/// The system a chaos run drives and checks: its REST API, its six databases, its broker as the
/// administrator, and (optionally) a control command that can kill and start its processes and
/// servers (`scripts/run` is one). Without control, only the broker's faults are injected.
public struct ChaosTarget: Sendable {
    public var apiURL: String
    public var databases: SystemDatabases
    public var amqpAdmin: AMQPConfiguration
    public var managementURL: String
    /// `CONTROL kill SERVICE...`, `CONTROL start SERVICE [--set K=V]`, `CONTROL running SERVICE`,
    /// `CONTROL restart-rabbitmq`, `CONTROL restart-postgres`, `CONTROL stop-postgres`, `CONTROL start-postgres`.
    public var control: String?
    /// The API key it places checkouts and retries sagas with (scopes checkout and admin).
    public var apiKey: String?

    public init(
        apiURL: String, databases: SystemDatabases, amqpAdmin: AMQPConfiguration, managementURL: String, control: String?, apiKey: String? = nil
    ) {
        self.apiKey = apiKey
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        self.databases = databases
        self.amqpAdmin = amqpAdmin
        self.managementURL = managementURL
        self.control = control
    }

    /// `request` with the run's API key.
    func authorized(_ request: URLRequest) -> URLRequest {
        var request = request
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        return request
    }

    /// Runs the control command; throws with its output when it fails.
    @discardableResult
    func control(_ arguments: [String]) async throws -> Int32 {
        guard let control else { throw ChaosError("this fault needs --control") }
        // Its output goes to a file, not a pipe: a server it starts may keep a pipe open for ever.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("saga-chaos-control-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        return try await withCheckedThrowingContinuation { continuation in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: control)
            process.arguments = arguments
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            process.terminationHandler = { process in
                try? output.close()
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                try? FileManager.default.removeItem(at: log)
                if process.terminationStatus == 0 || arguments.first == "running" {
                    continuation.resume(returning: process.terminationStatus)
                } else {
                    continuation.resume(throwing: ChaosError("\(control) \(arguments.joined(separator: " ")) failed: \(text.suffix(500))"))
                }
            }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
    }

    func isRunning(_ service: String) async throws -> Bool {
        try await control(["running", service]) == 0
    }

    /// `GET /ready` answers 200: the order service reaches its database and the broker.
    func isReady(_ session: URLSession) async -> Bool {
        guard let (_, response) = try? await session.fetch(URL(string: apiURL + "/ready")!) else { return false }
        return (response as? HTTPURLResponse)?.statusCode == 200
    }

    /// The order database's clock now.
    func now() async throws -> String {
        try await databases.order.query("SELECT now()::text AS now").first!.string("now")
    }
}

/// A chaos run that cannot go on; says why.
public struct ChaosError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
