import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore

/// Another OrderSaga service a request asks something of over HTTP (the order service about a
/// credential, the cart service for a cart), with a timeout. Whatever keeps the answer from
/// coming is one `503` problem naming the service and the setting that points at it.
public struct PeerService: Sendable {
    /// `the order service`, `the cart service`: for messages.
    let name: String
    let baseURL: String
    /// The setting that holds `baseURL`, for messages.
    let setting: String
    let timeout: Duration
    let logger: Logger

    public init(_ name: String, at baseURL: String, setting: String, timeout: Duration = .seconds(3), logger: Logger) {
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.setting = setting
        self.timeout = timeout
        self.logger = logger
    }

    /// `GET path` with `authorization` passed on: the status and body the service answered.
    /// Throws ``unavailable(_:)`` when it cannot be reached or does not answer in time.
    public func get(_ path: String, authorization: String?) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: baseURL + path)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            let body = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), Data(body.readableBytesView))
        } catch {
            logger.warning("cannot ask \(name)", metadata: ["url": "\(baseURL)\(path)", "error": "\(error)"])
            throw unavailable("\(name) (\(baseURL)) cannot be reached")
        }
    }

    /// `503` with `Retry-After: 5`: `why`, and that nothing was done.
    public func unavailable(_ why: String) -> ProblemDetails {
        var headers = HTTPFields()
        headers[.retryAfter] = "5"
        return ProblemDetails(
            status: .serviceUnavailable, type: "https://ordersaga.dev/problems/unavailable", title: "Service unavailable",
            detail: "\(why); nothing was done, try again in 5 s (\(setting))", headers: headers)
    }
}
