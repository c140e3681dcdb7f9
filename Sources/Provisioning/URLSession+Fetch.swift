import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension URLSession {
    /// `request`'s body and response, through the completion-handler API rather than
    /// `data(for:)`. On Linux, `data(for:)` cancels its task from inside Swift's cancellation
    /// handler with a `sync` onto the session's queue; when the response completes on that queue at
    /// the same moment, each waits for the other, and every later request of the session hangs
    /// (seen in the test suite: the whole process stopped, each test to its time limit). This one
    /// is not cancelled: it ends with its response or the request's `timeoutInterval`.
    public func fetch(_ request: URLRequest) async throws -> (Data, URLResponse) {
        try await withCheckedThrowingContinuation { continuation in
            dataTask(with: request) { data, response, error in
                if let data, let response {
                    continuation.resume(returning: (data, response))
                } else {
                    continuation.resume(throwing: error ?? URLError(.badServerResponse))
                }
            }.resume()
        }
    }

    /// `url`'s body and response (``fetch(_:)-(URLRequest)``).
    public func fetch(_ url: URL) async throws -> (Data, URLResponse) {
        try await fetch(URLRequest(url: url))
    }
}
