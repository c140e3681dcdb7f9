import Hummingbird
import Postgres

/// Turns the errors of the infrastructure into problems a client can act on, for every route: an
/// unreachable database answers `503` with `Retry-After`, a body over the limit `413` naming it.
/// Anything else passes through (route errors are ``ProblemDetails`` already).
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let bodyLimit: Int
    /// Seconds a client should wait before retrying while the database is down.
    let retryAfter: Int

    public init(bodyLimit: Int, retryAfter: Int) {
        self.bodyLimit = bodyLimit
        self.retryAfter = retryAfter
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as PostgresError where error.isUnavailable {
            context.logger.warning("database unavailable; answering 503", metadata: ["error": "\(error)"])
            throw ProblemDetails.databaseUnavailable(retryAfter: retryAfter)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge && !(error is ProblemDetails) {
            throw ProblemDetails.tooLarge(limit: bodyLimit)
        }
    }
}

/// Answers a request that no route takes as a problem: `405` with `Allow` when the path is served
/// with other methods, else `404`. (Hummingbird answers both with a bare `404`.) Added after the
/// routes, so it knows them all.
public struct UnroutedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each route's path components (`nil`: a parameter, which matches any one component) and its methods.
    let routes: [(components: [Substring?], methods: [String])]

    public init(_ routes: [Router<Context>.RouteDescription]) {
        var byPath: [String: [String]] = [:]
        for route in routes { byPath[route.path.description, default: []].append(route.method.rawValue) }
        self.routes = byPath.map { path, methods in
            (path.split(separator: "/").map { $0.hasPrefix("{") ? nil : $0 }, methods.sorted())
        }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path.split(separator: "/")
            let allowed = routes.filter { route in
                route.components.count == path.count && zip(route.components, path).allSatisfy { $0 == nil || $0 == $1 }
            }.flatMap(\.methods)
            guard !allowed.isEmpty else { throw ProblemDetails.notFound("no route \(request.uri.path)") }
            var headers = HTTPFields()
            headers[.allow] = allowed.joined(separator: ", ")
            throw ProblemDetails(
                status: .methodNotAllowed, type: "https://ordersaga.dev/problems/method-not-allowed", title: "Method not allowed",
                detail: "\(request.uri.path) takes \(allowed.joined(separator: ", ")), not \(request.method.rawValue)", headers: headers)
        }
    }
}
