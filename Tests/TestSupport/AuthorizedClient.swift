import Hummingbird
import HummingbirdTesting

/// A test client that sends `Authorization: Bearer <key>` with every request that has none, as a
/// client holding an API key does. Tests of the credentials themselves use the plain client.
public struct AuthorizedClient: TestClientProtocol {
    public let client: any TestClientProtocol
    public let key: String

    public func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if headers[.authorization] == nil { headers[.authorization] = "Bearer \(key)" }
        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    public var port: Int? { client.port }
}

extension TestClientProtocol {
    /// This client, sending `key` with every request.
    public func authorized(_ key: String) -> AuthorizedClient {
        AuthorizedClient(client: self, key: key)
    }
}
