import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Messaging
import Provisioning
import Testing
import TestSupport

/// Calls to a worker's REST API, and a whole system in which one worker serves it. The suites of
/// the five APIs are nested here and run one at a time: each starts six processes, and together
/// they would starve the suite's timing-sensitive tests on two cores.
@Suite(.serialized) enum WorkerAPI {
    struct Reply {
        var status: Int
        var body: Data
        var headers: [String: String]
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() -> [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        /// The fields a problem names.
        var fields: [String] { (json()["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
    }

    static func call(
        _ method: String, _ port: Int, _ path: String, key: String?, body: String? = nil, contentType: String = "application/json",
        headers extra: [String: String] = [:]
    ) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        for (name, value) in extra { request.setValue(value, forHTTPHeaderField: name) }
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.utf8)
        }
        let (data, response) = try await URLSession.shared.fetch(request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields { headers[String(describing: name).lowercased()] = String(describing: value) }
        return Reply(status: http.statusCode, body: data, headers: headers)
    }

    /// The order service on a port of its own, the worker `api` serving its REST API on another
    /// (it asks that order service about credentials) and the other four workers: a whole system.
    static func withSystem(serving api: String, _ body: (TestSystem, _ worker: Int, _ order: Int) async throws -> Void) async throws {
        try await TestSystem.with { system in
            let order = TestPorts.next()
            let worker = TestPorts.next()
            // A checkout by cart reads the cart from this system's cart service, when it serves its API.
            let carts = api == "cart" ? "http://127.0.0.1:\(worker)" : ""
            var processes = [try system.launch(
                ["order-service", "--port", String(order), "--sagas", TestSystem.repositoryRoot.appendingPathComponent("sagas").path,
                 "--set", "checkout.cartServiceUrl=\(carts)"], as: "order")]
            for participant in SagaTopology.participants {
                let port = participant == api ? worker : -1
                processes.append(try system.launch(
                    ["worker", participant, "--set", "worker.httpPort=\(port)", "--set", "worker.orderServiceUrl=http://127.0.0.1:\(order)"],
                    as: participant))
            }
            defer { for process in processes where process.isRunning { process.terminate() } }
            #expect(await TestSystem.becomesReady(port: order))
            #expect(await TestSystem.becomesReady(port: worker))
            try await body(system, worker, order)
            for process in processes { await process.stop() }
        }
    }
}
