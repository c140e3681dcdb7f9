import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The few calls of RabbitMQ's management HTTP API that setting up a vhost needs. Every call is
/// idempotent (`PUT` creates or replaces).
public struct RabbitMQManagement: Sendable {
    /// `http://host:port` of the management plugin.
    public var baseURL: String
    public var user: String
    public var password: String

    public init(baseURL: String, user: String, password: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.user = user
        self.password = password
    }

    public func putVhost(_ vhost: String) async throws {
        try await request("PUT", "/api/vhosts/\(Self.encoded(vhost))", body: [:])
    }

    public func deleteVhost(_ vhost: String) async throws {
        try await request("DELETE", "/api/vhosts/\(Self.encoded(vhost))", body: nil)
    }

    /// Creates the user, or sets its password; it gets no management tags.
    public func putUser(_ name: String, password: String) async throws {
        for attempt in 1...3 {
            do {
                try await request("PUT", "/api/users/\(Self.encoded(name))", body: ["password": password, "tags": ""])
                return
            } catch let error as ProvisioningError where error.description.contains("user_already_exists") && attempt < 3 {
                // Two setups created the same user at once (parallel tests on a new broker): the
                // loser's PUT is refused; now that the user exists, the same PUT updates it.
                continue
            }
        }
    }

    public func putPermissions(vhost: String, user: String, configure: String, write: String, read: String) async throws {
        try await request(
            "PUT", "/api/permissions/\(Self.encoded(vhost))/\(Self.encoded(user))",
            body: ["configure": configure, "write": write, "read": read])
    }

    /// Names in a path are percent-encoded, `/` included (the default vhost is `%2F`).
    public static func encoded(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? name
    }

    /// Calls the API as this user; an answer that is not 2xx throws with what the server said.
    @discardableResult
    public func request(_ method: String, _ path: String, body: [String: any Sendable]?) async throws -> Data {
        guard let url = URL(string: baseURL + path) else { throw ProvisioningError("management URL \(baseURL + path) is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Basic \(Data("\(user):\(password)".utf8).base64EncodedString())", forHTTPHeaderField: "Authorization")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        }
        request.timeoutInterval = 30
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await Self.session.fetch(request)
        } catch let error as URLError where error.code == .cancelled || error.code == .userAuthenticationRequired {
            throw ProvisioningError("RabbitMQ management API at \(baseURL) refused user \(user): wrong password, or not an administrator (HTTP 401)")
        } catch {
            throw ProvisioningError("RabbitMQ management API at \(baseURL): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw ProvisioningError("RabbitMQ management API: \(method) \(path) answered HTTP \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }
}

extension RabbitMQManagement {
    /// A session whose tasks answer an authentication challenge by cancelling: the credentials are
    /// sent in every request, and a 401 is final. (With URLSession's default handling, a 401 from
    /// the management API left the request waiting for ever on Linux.)
    static let session = URLSession(configuration: .ephemeral, delegate: CancelChallenges(), delegateQueue: nil)

    final class CancelChallenges: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(
            _ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
            completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
        ) {
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
    }
}

/// Setting up failed; the message says which call and what the server answered.
public struct ProvisioningError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
