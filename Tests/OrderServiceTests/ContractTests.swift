import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Messaging
@testable import OrderService
import Postgres
import Testing
import TestSupport
import Workers
import Yams

/// `openapi.yaml` is the contract: the server serves exactly its operations, and reads its
/// constraints the way JSON Schema does, so a client generated from it and the server agree on
/// what is valid. (CI fuzzes the live service against it with schemathesis as well:
/// `APIFuzzTests`.)
@Suite struct ContractTests {
    static let document = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("openapi.yaml")

    /// `METHOD /path/{param}` for every operation of the document.
    static func documentedOperations() throws -> Set<String> {
        let root = try #require(try Yams.load(yaml: String(contentsOf: document, encoding: .utf8)) as? [String: Any])
        let paths = try #require(root["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        return Set(paths.flatMap { path, operations in
            operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
        })
    }

    @Test func theServerServesExactlyTheDocumentedOperations() throws {
        let harness = try Harness()
        let served = harness.routes
        let documented = try Self.documentedOperations()
        #expect(served.subtracting(documented).isEmpty, "served but not in openapi.yaml: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "in openapi.yaml but not served: \(documented.subtracting(served).sorted())")
    }

    /// A method a path does not take answers `405` naming the ones it does; a path nobody serves,
    /// `404`; both as problems.
    @Test func anUnservedMethodIs405WithAllowAndAnUnknownPath404() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            try await client.execute(uri: "/api/v1/checkout", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/api/v1/sagas/\(UUID().uuidString)", method: .put) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
            try await client.execute(uri: "/api/v1/sagas/\(UUID().uuidString)/retry", method: .get) { response in
                #expect(response.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/api/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains("no route /api/v1/nothing-here"))
            }
        }
    }

    /// Every operation names its problems, and every documented response has a body schema (or is text).
    @Test func everyOperationDocumentsItsResponses() throws {
        let root = try #require(try Yams.load(yaml: String(contentsOf: Self.document, encoding: .utf8)) as? [String: Any])
        let paths = try #require(root["paths"] as? [String: [String: [String: Any]]])
        for (path, operations) in paths {
            for (method, operation) in operations {
                let responses = try #require(operation["responses"] as? [String: Any], "\(method) \(path) has no responses")
                #expect(responses.keys.contains { $0.hasPrefix("2") }, "\(method) \(path) documents no success")
                #expect(operation["operationId"] is String, "\(method) \(path) has no operationId")
                if path.hasPrefix("/api/") {
                    #expect(responses["503"] != nil, "\(method) \(path) can answer 503 while the database is down")
                }
                if path.contains("{id}") { #expect(responses["404"] != nil && responses["422"] != nil, "\(method) \(path)") }
            }
        }
    }

    // MARK: Constraints read as JSON Schema reads them

    func checkout(_ client: some TestClientProtocol, _ body: String, headers: HTTPFields = [:]) async throws -> HTTPResponse.Status {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await client.execute(uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: body)) { $0.status }
    }

    /// Lengths are Unicode code points, not Swift's characters: "é" written as e + U+0301 is two.
    @Test func textLengthsCountCodePoints() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let decomposed = String(repeating: "e\u{301}", count: 101)  // 101 characters, 202 code points
            let tooLong = Harness.checkout().replacingOccurrences(of: "1 Main St", with: decomposed)
            #expect(tooLong.contains(decomposed))
            let refused = try await checkout(client, tooLong)
            #expect(refused == .unprocessableContent)
            let fits = Harness.checkout().replacingOccurrences(of: "1 Main St", with: String(repeating: "e\u{301}", count: 100))
            let accepted = try await checkout(client, fits)
            #expect(accepted == .accepted)
        }
    }

    @Test(arguments: ["CAFÉ10", "WELCOME 10", ""])
    func aCouponCodeIsASCII(_ code: String) async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let status = try await checkout(client, Harness.checkout(coupon: code))
            #expect(status == .unprocessableContent)
        }
    }

    @Test(arguments: ["key with spaces", "clé", String(repeating: "k", count: 201), ""])
    func anIdempotencyKeyIsVisibleASCII(_ key: String) async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let status = try await checkout(client, Harness.checkout(), headers: [HTTPField.Name("Idempotency-Key")!: key])
            #expect(status == .unprocessableContent)
        }
    }

    @Test(arguments: [("/api/v1/sagas?limit=%2B5", "limit"), ("/api/v1/sagas?limit=05000", "limit"), ("/api/v1/sagas/stats?window=%2B5m", "window"),
                      ("/api/v1/sagas?stuckFor=1.5h", "stuckFor")])
    func numbersInTheQueryAreDigitsOnly(_ uri: String, _ field: String) async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .unprocessableContent, "\(uri)")
                #expect(String(buffer: response.body).contains(#""field":"\#(field)""#))
            }
        }
    }

    @Test func anIfMatchIsAnETagOrAVersion() {
        #expect(OrderServiceAPI.version(ifMatch: "\"7\"") == 7)
        #expect(OrderServiceAPI.version(ifMatch: "W/\"7\"") == 7)
        #expect(OrderServiceAPI.version(ifMatch: "12") == 12)
        for bad in ["", "\"\"", "+7", " 7", "7W/", "W/W/\"7\"", "\"7", "1234567890", "yesterday"] {
            #expect(OrderServiceAPI.version(ifMatch: bad) == nil, "\(bad)")
        }
    }
}

/// `openapi/<participant>.yaml` is the contract of each worker's REST API: the worker serves
/// exactly its operations, probes included.
@Suite struct WorkerContractTests {
    struct Nobody: CallerAuthenticating {
        func caller(of request: Request, needs scopes: Set<Scope>) async throws -> Caller { throw ProblemDetails.unauthorized }
    }

    @Test(arguments: SagaTopology.participants.sorted())
    func eachWorkerServesExactlyItsDocumentedOperations(_ participant: String) throws {
        let document = ContractTests.document.deletingLastPathComponent().appendingPathComponent("openapi/\(participant).yaml")
        let root = try #require(try Yams.load(yaml: String(contentsOf: document, encoding: .utf8)) as? [String: Any])
        let paths = try #require(root["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        let documented = Set(paths.flatMap { path, operations in operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })
        let router = WorkerHTTP.router(
            participant: participant, pool: PostgresPool(conninfo: ""), broker: { .down }, metrics: WorkerMetrics(),
            logger: Logger(label: "test"), api: .init(authenticator: Nobody()))
        let served = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        #expect(served == documented, "served only: \(served.subtracting(documented).sorted()); documented only: \(documented.subtracting(served).sorted())")
    }
}
