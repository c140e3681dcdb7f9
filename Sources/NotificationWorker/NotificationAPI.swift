import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Messaging

/// The notification service's REST API, on the notification worker's own port, over its own
/// database: the Mustache templates of each kind of message (read, replace, preview) and the
/// notifications sent (read-only). Every route needs `admin`.
public struct NotificationAPI: ServiceAPI {
    let store: NotificationStore
    let authenticator: any CallerAuthenticating
    let bodyLimit: Int

    public init(store: NotificationStore, authenticator: any CallerAuthenticating, bodyLimit: Int) {
        self.store = store
        self.authenticator = authenticator
        self.bodyLimit = bodyLimit
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("templates", use: templates)
        api.get("templates/:kind", use: template)
        api.put("templates/:kind", use: replace)
        api.post("templates/:kind/preview", use: preview)
        api.get("notifications", use: notifications)
    }

    static let kinds = ["ORDER_CANCELLED", "ORDER_CONFIRMED", "ORDER_REFUNDED"]
    static let maxSubject = 200
    static let maxBody = 10_000

    /// What a preview renders with unless the request gives its own values.
    static let sampleValues = [
        "order": "1001", "orderId": "7c893521-a241-4322-ad81-6e1f61bf10b4", "orderNumber": "1001", "customerId": "cust-ada",
        "total": "56.07", "reason": "out of stock",
    ]

    static func kindParameter(_ context: BasicRequestContext) throws -> String {
        let kind = context.parameters.get("kind") ?? ""
        guard kinds.contains(kind) else { throw ProblemDetails.notFound("no template \(kind); the kinds are \(kinds.joined(separator: ", "))") }
        return kind
    }

    /// `GET /api/v1/templates`.
    @Sendable func templates(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        return try jsonResponse(["templates": try await store.templates()])
    }

    /// `GET /api/v1/templates/{kind}`.
    @Sendable func template(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let kind = try Self.kindParameter(context)
        guard let template = try await store.template(kind) else { throw ProblemDetails.notFound("no template \(kind)") }
        return try jsonResponse(template)
    }

    /// The subject and body of a request, parsed as Mustache: a template that does not parse is a
    /// problem naming the part, its line and column. The caller checks the problems.
    private func read(_ request: Request, kind: String, also: Set<String> = []) async throws -> (subject: String?, body: String?, fields: JSONFields) {
        var fields = JSONFields(try await JSONFields.object(of: request, limit: bodyLimit))
        fields.refuseUnknown(Set(["subject", "body"]).union(also), of: "a template")
        let subject = fields.text("subject", maxLength: Self.maxSubject)
        let body = fields.text("body", maxLength: Self.maxBody)
        if let subject, let body {
            do {
                _ = try NotificationTemplate(kind: kind, subject: subject, body: body)
            } catch {
                fields.problem(error.description.contains(" subject, ") ? "subject" : "body", "does not parse: \(error.description)")
            }
        }
        return (subject, body, fields)
    }

    /// `PUT /api/v1/templates/{kind}` `{"subject", "body"}`: the template, replaced; the worker
    /// renders the next message of that kind with it. One that does not parse changes nothing.
    @Sendable func replace(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(of: request, needs: [.admin])
        let kind = try Self.kindParameter(context)
        let (subject, body, fields) = try await read(request, kind: kind)
        try fields.check(what: "The template")
        guard let subject, let body, let template = try await store.replace(kind, subject: subject, body: body, by: caller.principal) else {
            throw ProblemDetails.notFound("no template \(kind)")
        }
        return try jsonResponse(template)
    }

    /// `POST /api/v1/templates/{kind}/preview` `{"subject", "body", "values"?}`: the message those
    /// texts would render, with sample values or the request's; nothing is stored.
    @Sendable func preview(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let kind = try Self.kindParameter(context)
        var (subject, body, fields) = try await read(request, kind: kind, also: ["values"])
        var values = Self.sampleValues
        if let given = fields.object["values"] {
            if let object = given as? [String: Any], object.allSatisfy({ NotificationTemplate.variables.contains($0.key) && $0.value is String }) {
                for (key, value) in object { values[key] = value as? String }
            } else {
                fields.problem("values", "must map some of \(NotificationTemplate.variables.joined(separator: ", ")) to text")
            }
        }
        try fields.check(what: "The preview")
        guard let subjectText = subject, let bodyText = body else { throw ProblemDetails.invalid(fields.problems, what: "The preview") }
        (subject, body) = try NotificationTemplate(kind: kind, subject: subjectText, body: bodyText).render(values)
        return try jsonResponse(["subject": subject, "body": body])
    }

    /// `GET /api/v1/notifications?customer=&order=&limit=&cursor=`: the notifications sent, newest first.
    @Sendable func notifications(_ request: Request, context: BasicRequestContext) async throws -> Response {
        _ = try await authenticator.caller(of: request, needs: [.admin])
        let parameters = request.uri.queryParameters
        var problems: [ProblemDetails.FieldProblem] = []
        let limit = pageLimit(parameters.get("limit"), default: 50, problems: &problems)
        let customer = parameters.get("customer")
        if let customer, !JSONFields.isIdentifier(customer) { problems.append(.init(field: "customer", problem: "must be a customer id")) }
        let order = parameters.get("order")
        if let order, UUID(uuidString: order) == nil { problems.append(.init(field: "order", problem: "must be an order id (a UUID)")) }
        var before: Int?
        if let cursor = parameters.get("cursor") {
            before = parseDigits(cursor, maxDigits: 18)
            if before == nil { problems.append(.init(field: "cursor", problem: "must be the nextCursor of the page before")) }
        }
        guard problems.isEmpty else { throw ProblemDetails.invalid(problems, what: "The query") }
        let found = try await store.notifications(customer: customer, order: order?.lowercased(), before: before, limit: limit + 1)
        let page = Array(found.prefix(limit))
        return try jsonResponse(NotificationPage(notifications: page, nextCursor: found.count > limit ? page.last.map { String($0.id) } : nil))
    }

    struct NotificationPage: Codable {
        var notifications: [NotificationView]
        var nextCursor: String?
    }
}
