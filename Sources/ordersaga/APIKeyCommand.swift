import ArgumentParser
import CheckoutContracts
import Foundation
import Messaging
import OrderService
import Postgres

/// `ordersaga api-key create|list|revoke`: the credentials of the REST API, in the order database.
struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Create, list and revoke the API keys the REST API takes.",
        discussion: """
            Every API call but /health, /ready and /metrics needs a key, sent as \
            Authorization: Bearer osk_…. Scopes: checkout (place orders, read the ones this key \
            placed) and admin (read everything, act on sagas). Only a hash of each key is stored: \
            the key is shown once, when it is created. The order service sees a revoked key as \
            invalid within 5 seconds.

            These commands use the order service's database (--postgres-url or \
            ORDERSAGA_POSTGRES_URL).

            Examples:
              ordersaga api-key create --name shop-frontend --scope checkout
              ordersaga api-key create --name ops --scope admin,checkout --rate-limit 0
              ordersaga api-key list
              ordersaga api-key revoke 3f9a1c2b7d4e
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Database: ParsableArguments {
        @Option(name: .customLong("postgres-url"), help: "The order service's database URL (or ORDERSAGA_POSTGRES_URL).")
        var postgresURL: String?

        func store() throws -> APIKeyStore {
            let settings = SettingsReader(overrides: postgresURL.map { [OrderSagaSettings.postgresURL.key: $0] } ?? [:])
            return APIKeyStore(pool: PostgresPool(conninfo: try settings.required(OrderSagaSettings.postgresURL, flag: "--postgres-url"), size: 1))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print it (once: only its hash is kept).",
            discussion: """
                Prints the key alone on standard output, so a script can keep it; what it \
                made goes to standard error. --json prints both as one object instead.

                Examples:
                  key=$(ordersaga api-key create --name ci --scope admin)
                  ordersaga api-key create --name shop --scope checkout --rate-limit 20
                """)

        @OptionGroup var database: Database
        @Option(help: "What the key is for, as lists show it (1 to 100 characters).") var name: String
        @Option(name: .customLong("scope"), help: "checkout or admin; repeatable, or comma-separated.")
        var scopes: [String] = ["checkout"]
        @Option(help: "Requests a second it may make (0: no limit; default: the service's api.rateLimit).") var rateLimit: Int?
        @Flag(help: "Print the key and what was stored as JSON.") var json = false

        var parsedScopes: Set<Scope> { Set(scopes.compactMap { Scope.parse($0) }.joined()) }

        func validate() throws {
            guard (1...100).contains(name.count), !name.contains(where: { $0.isNewline }) else {
                throw ValidationError("--name must be 1 to 100 characters on one line")
            }
            for scope in scopes where Scope.parse(scope) == nil {
                throw ValidationError("--scope \(scope): expected \(Scope.allCases.map(\.rawValue).joined(separator: " or "))")
            }
            if let rateLimit, !(0...1_000_000).contains(rateLimit) {
                throw ValidationError("--rate-limit must be from 0 (no limit) to 1000000 requests a second")
            }
        }

        func run() async throws {
            let (key, record) = try await database.store().create(name: name, scopes: parsedScopes, rateLimit: rateLimit)
            if json {
                struct Created: Encodable { var key: String; var record: APIKeyRecord }
                print(try APIKeyCommand.json(Created(key: key.text, record: record)))
                return
            }
            print(key.text)
            FileHandle.standardError.write(Data("""
                Created key \(record.id) "\(record.name)": scopes \(record.scopes.map(\.rawValue).joined(separator: ", ")), \
                \(APIKeyCommand.rate(record.rateLimit)). It is shown only now: keep it secret.\n
                """.utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the keys (never the keys themselves): id, name, scopes, rate limit, when made and last used.",
            discussion: """
                Examples:
                  ordersaga api-key list
                  ordersaga api-key list --all --json   # revoked ones too, as JSON
                """)

        @OptionGroup var database: Database
        @Flag(help: "Also the revoked keys.") var all = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let records = try await database.store().list(revoked: all)
            if json {
                print(try APIKeyCommand.json(records))
                return
            }
            guard !records.isEmpty else {
                print("no keys: `ordersaga api-key create --name NAME --scope checkout` makes one")
                return
            }
            var rows = [["ID", "NAME", "SCOPES", "RATE LIMIT", "CREATED", "LAST USED", "REVOKED"]]
            for record in records {
                rows.append([
                    record.id, record.name, record.scopes.map(\.rawValue).joined(separator: ","),
                    record.rateLimit.map { $0 == 0 ? "none" : "\($0)/s" } ?? "default", record.createdAt, record.lastUsedAt ?? "never",
                    record.revokedAt ?? "-",
                ])
            }
            let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by its id: the service refuses it within 5 seconds.",
            discussion: """
                The id is the 12 hex digits after osk_ (as `ordersaga api-key list` shows it); the \
                whole key works too. Revoking is final; revoking again changes nothing.

                Example:
                  ordersaga api-key revoke 3f9a1c2b7d4e
                """)

        @OptionGroup var database: Database
        @Argument(help: "The key's id (or the whole key).") var id: String

        func run() async throws {
            let id = APIKey(self.id)?.id ?? self.id
            guard let record = try await database.store().revoke(id: id) else {
                throw ValidationError("no key \(id): `ordersaga api-key list --all` shows them")
            }
            print("revoked key \(record.id) \"\(record.name)\" at \(record.revokedAt ?? "now")")
        }
    }

    static func rate(_ limit: Int?) -> String {
        switch limit {
        case nil: "the service's rate limit (api.rateLimit)"
        case 0?: "no rate limit"
        case let limit?: "\(limit) requests a second"
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
