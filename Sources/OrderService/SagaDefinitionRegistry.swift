import Foundation
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

    /// Every version `stored`, after checking that the stored copy of each `current` version is
    /// that definition: a file changed without raising its version throws, naming the file.
    static func checked(_ current: [(definition: SagaDefinition, file: String)], stored: [SagaDefinition]) throws -> SagaDefinitionRegistry {
        let registry = SagaDefinitionRegistry(definitions: stored)
        for (definition, file) in current {
            let same = try registry.definition(name: definition.name, version: definition.version)
            guard same == definition else {
                throw SagaDefinitionError(
                    file: file, line: 2,
                    problem: "version \(definition.version) differs from the version \(definition.version) that sagas in this database started with; raise \"version\"")
            }
        }
        return registry
    }
}
