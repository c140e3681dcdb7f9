import Foundation
import Hummingbird

/// An RFC 9457 problem (`application/problem+json`): what went wrong, and for invalid input, each
/// field and its problem.
public struct ProblemDetails: HTTPResponseError, Sendable {
    public struct FieldProblem: Codable, Sendable, Equatable {
        public init(field: String, problem: String) {
            self.field = field
            self.problem = problem
        }

        /// The field's path in the request (`items[1].quantity`), or a query parameter's name.
        public var field: String
        public var problem: String
    }

    public let status: HTTPResponse.Status
    public let type: String
    public let title: String
    public let detail: String
    public let errors: [FieldProblem]
    /// Extra response headers (`Retry-After`).
    public let headers: HTTPFields

    public init(status: HTTPResponse.Status, type: String, title: String, detail: String, errors: [FieldProblem] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    public static func invalid(_ errors: [FieldProblem], what: String) -> ProblemDetails {
        ProblemDetails(
            status: .unprocessableContent, type: "https://ordersaga.dev/problems/validation", title: "\(what) is invalid",
            detail: errors.map { "\($0.field): \($0.problem)" }.joined(separator: "; "), errors: errors)
    }

    public static func malformed(_ detail: String) -> ProblemDetails {
        ProblemDetails(status: .badRequest, type: "https://ordersaga.dev/problems/malformed-request", title: "The request body is not valid JSON", detail: detail)
    }

    public static func notFound(_ detail: String) -> ProblemDetails {
        ProblemDetails(status: .notFound, type: "https://ordersaga.dev/problems/not-found", title: "Not found", detail: detail)
    }

    /// The database cannot be reached: try again after `retryAfter` seconds.
    public static func databaseUnavailable(retryAfter: Int) -> ProblemDetails {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfter)
        return ProblemDetails(
            status: .serviceUnavailable, type: "https://ordersaga.dev/problems/unavailable", title: "Service unavailable",
            detail: "the database cannot be reached; nothing was written, try again in \(retryAfter) s", headers: headers)
    }

    /// More sagas are in flight than admission control allows: try again after `retryAfter` seconds.
    public static func overloaded(limit: Int, retryAfter: Int) -> ProblemDetails {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfter)
        return ProblemDetails(
            status: .serviceUnavailable, type: "https://ordersaga.dev/problems/overloaded", title: "Too many checkouts in progress",
            detail: "more than \(limit) sagas are in flight; nothing was written, try again in \(retryAfter) s", headers: headers)
    }

    /// `409`: there is a `what` with this id already (naming `field`).
    public static func duplicate(_ what: String, _ id: String, field: String = "id", hint: String = "") -> ProblemDetails {
        ProblemDetails(
            status: .conflict, type: "https://ordersaga.dev/problems/duplicate", title: "The \(what) exists",
            detail: "there is a \(what) \(id) already\(hint.isEmpty ? "" : "; \(hint)")", errors: [.init(field: field, problem: "is taken")])
    }

    public static func tooLarge(limit: Int) -> ProblemDetails {
        ProblemDetails(
            status: .contentTooLarge, type: "https://ordersaga.dev/problems/body-too-large", title: "The request body is too large",
            detail: "the body is over the limit of \(limit) bytes")
    }

    public static func unsupportedMediaType(_ given: String?) -> ProblemDetails {
        ProblemDetails(
            status: .unsupportedMediaType, type: "https://ordersaga.dev/problems/unsupported-media-type",
            title: "The request body must be JSON",
            detail: "Content-Type is \(given.map { "\"\($0)\"" } ?? "missing"); send application/json",
            errors: [.init(field: "Content-Type", problem: "must be application/json")])
    }

    private struct Body: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let instance: String
        let errors: [FieldProblem]?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = Body(type: type, title: title, status: Int(status.code), detail: detail, instance: request.uri.path, errors: errors.isEmpty ? nil : errors)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(body))))
    }
}
