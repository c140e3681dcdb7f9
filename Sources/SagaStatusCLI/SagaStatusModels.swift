/// A problem+json answer, as far as the CLI prints it.
struct ProblemDocument: Codable {
    struct FieldProblem: Codable {
        var field: String
        var problem: String
    }
    var title: String
    var detail: String
    var errors: [FieldProblem]?
}
