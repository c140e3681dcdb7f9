import Hummingbird
import Postgres

/// Turns the errors of the infrastructure into problems a client can act on, for every route: an
/// unreachable database answers `503` with `Retry-After`, a body over the limit `413` naming it.
/// Anything else passes through (route errors are ``ProblemDetails`` already).
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let bodyLimit: Int
    /// Seconds a client should wait before retrying while the database is down.
    let retryAfter: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
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
