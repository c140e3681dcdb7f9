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
