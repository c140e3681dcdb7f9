/// A reply with no data.
public struct Empty: Codable, Sendable, Equatable {
    public init() {}
}
