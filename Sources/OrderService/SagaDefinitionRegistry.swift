import Foundation
import Postgres
import SagaCore

/// Every version of every saga definition this database has run. The file's version is stored on
/// first start; a saga keeps the version it started with, whatever the file says later.
public struct SagaDefinitionRegistry: Sendable {
    private let definitions: [String: SagaDefinition]

    init(definitions: [SagaDefinition]) {
        var byKey: [String: SagaDefinition] = [:]
        for definition in definitions { byKey["\(definition.name)@\(definition.version)"] = definition }
        self.definitions = byKey
    }

    func definition(name: String, version: Int) throws -> SagaDefinition {
        guard let definition = definitions["\(name)@\(version)"] else {
            throw CreateOrderSagaError("saga definition \(name) v\(version) is not known to this database")
        }
        return definition
    }

    /// Reads and validates `<directory>/<name>.yaml`: a bad file throws ``SagaDefinitionError`` with
    /// the file, line and problem.
    public static func load(name: String, directory: URL) throws -> SagaDefinition {
        let url = directory.appendingPathComponent("\(name).yaml")
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw SagaDefinitionError(file: url.path, line: 0, problem: "cannot read the file: \(error.localizedDescription)")
        }
        let definition = try SagaDefinition(yaml: text, file: url.path)
        guard definition.name == name else {
            throw SagaDefinitionError(file: url.path, line: 1, problem: "name is \"\(definition.name)\", expected \"\(name)\" (the file's name)")
        }
        return definition
    }

    /// Stores `current` if its version is new and returns every known version. Throws when the
    /// stored copy of the same version differs: the file was changed without raising its version.
    static func register(_ current: SagaDefinition, file: String, pool: PostgresPool) async throws -> SagaDefinitionRegistry {
        let json = try PostgresJSON(current)
        let stored = try await pool.transaction { connection -> [SagaDefinition] in
            try connection.query(
                "INSERT INTO saga_definitions (name, version, definition) VALUES ($1, $2, $3::jsonb) ON CONFLICT DO NOTHING",
                [current.name, current.version, json])
            return try connection.query("SELECT definition::text AS definition FROM saga_definitions").map {
                try $0.json("definition", as: SagaDefinition.self)
            }
        }
        let registry = SagaDefinitionRegistry(definitions: stored)
        let same = try registry.definition(name: current.name, version: current.version)
        guard same == current else {
            throw SagaDefinitionError(
                file: file, line: 2,
                problem: "version \(current.version) differs from the version \(current.version) that sagas in this database started with; raise \"version\"")
        }
        return registry
    }
}
