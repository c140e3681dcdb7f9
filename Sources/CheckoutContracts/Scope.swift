/// What a credential may do. `checkout` places orders and reads the ones it placed; `admin` reads
/// everything and acts on sagas.
public enum Scope: String, CaseIterable, Codable, Sendable, Comparable {
    case checkout, admin

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Scopes written as `checkout,admin` (or space-separated, as OAuth's `scope` claim writes them).
    public static func parse(_ text: String) -> Set<Scope>? {
        let names = text.split(whereSeparator: { $0 == "," || $0 == " " })
        guard !names.isEmpty else { return nil }
        var scopes: Set<Scope> = []
        for name in names {
            guard let scope = Scope(rawValue: String(name)) else { return nil }
            scopes.insert(scope)
        }
        return scopes
    }
}
