import Hummingbird
import Messaging

/// A list's `limit` query parameter: 1 to 500 as digits, `fallback` when absent; otherwise a
/// problem naming `limit` is added and `fallback` returned.
public func pageLimit(_ text: String?, default fallback: Int, problems: inout [ProblemDetails.FieldProblem]) -> Int {
    guard let text else { return fallback }
    guard let value = parseDigits(text, maxDigits: 3), (1...500).contains(value) else {
        problems.append(.init(field: "limit", problem: "must be a whole number from 1 to 500"))
        return fallback
    }
    return value
}

/// A list in the order of a key, a page at a time: `limit` (1 to 500, 50 when absent) and
/// `cursor` (the last key of the page before) from the request's query, each refused with a 422
/// naming it; `fetch(after, count)` reads one more than the page, so `next` is given only while
/// there are more.
public func keyedPage<Item: Sendable>(
    _ request: Request, isKey: (String) -> Bool, key: (Item) -> String,
    fetch: (_ after: String?, _ count: Int) async throws -> [Item]
) async throws -> (items: [Item], next: String?) {
    let parameters = request.uri.queryParameters
    var problems: [ProblemDetails.FieldProblem] = []
    let limit = pageLimit(parameters.get("limit"), default: 50, problems: &problems)
    let cursor = parameters.get("cursor")
    if let cursor, !isKey(cursor) { problems.append(.init(field: "cursor", problem: "must be the nextCursor of the page before")) }
    guard problems.isEmpty else { throw ProblemDetails.invalid(problems, what: "The query") }
    let found = try await fetch(cursor, limit + 1)
    let page = Array(found.prefix(limit))
    return (page, found.count > limit ? page.last.map(key) : nil)
}
