/// An RFC 9457 problem the API answered with.
struct ProblemDocument: Codable {
    var title: String
    var detail: String
}
