import CheckoutContracts
import ArgumentParser
import Foundation
import Messaging
import SagaCore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `saga-status`: what sagas are doing, read from the order service's REST API.
public struct SagaStatusCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "saga-status",
        abstract: "Show OrderSaga sagas and repair the ones that need a person.",
        discussion: """
            Examples:
              saga-status show 6f1c2d4e-3b1a-4c5d-9e8f-0a1b2c3d4e5f
              saga-status watch 6f1c2d4e-3b1a-4c5d-9e8f-0a1b2c3d4e5f
              saga-status list --status FAILED --limit 50
              saga-status list --json | jq '.sagas[].id'
              saga-status stuck --for 5m
              saga-status stats --window 15m
              saga-status describe create_order
              saga-status list --type cancel_order
              saga-status retry 6f1c2d4e-… --reason "identity worker redeployed"
              saga-status abort 6f1c2d4e-… --reason "customer called to cancel"
              saga-status dlq list

            The order service's URL comes from --url, or ORDERSAGA_URL, or \
            http://127.0.0.1:8080; its API key (scope admin) from --api-key or \
            ORDERSAGA_API_KEY (`scripts/run` prints one; `ordersaga api-key create \
            --scope admin` makes one).

            Exit status: 0 done; 1 the service could not be reached or answered an error; \
            3 the saga's state does not allow the action (nothing changed); 4 the saga changed \
            since it was read, by a reply or another operator (nothing changed: look again); \
            5 the API key is missing, not valid or lacks the admin scope; 64 the command line \
            is wrong.
            """,
        subcommands: [Show.self, Watch.self, List.self, Stuck.self, Stats.self, Describe.self, Retry.self, Skip.self, Compensate.self, Abort.self, DLQ.self])

    public init() {}
}

/// Options every subcommand shares.
struct APIOptions: ParsableArguments {
    @Option(help: "The order service's base URL (default: $ORDERSAGA_URL or http://127.0.0.1:8080).")
    var url: String?

    @Option(help: "An API key with the admin scope (default: $ORDERSAGA_API_KEY, which keeps it out of `ps`).")
    var apiKey: String?

    @Flag(help: "Print the API's JSON instead of a table.")
    var json = false

    /// The `Authorization` header's value, when there is a key.
    var authorization: String? {
        (apiKey ?? ProcessInfo.processInfo.environment["ORDERSAGA_API_KEY"]).map { "Bearer \($0)" }
    }

    var baseURL: String {
        (url ?? ProcessInfo.processInfo.environment["ORDERSAGA_URL"] ?? "http://127.0.0.1:8080")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    func validate() throws {
        guard let parsed = URL(string: baseURL), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
            throw ValidationError("--url must be an http:// or https:// URL, not \"\(baseURL)\"")
        }
    }

    /// GETs `path`; a problem answer becomes an error with the API's words.
    func get(_ path: String) async throws -> Data {
        try await send(URLRequest(url: URL(string: baseURL + path)!))
    }

    private func authorized(_ request: URLRequest) -> URLRequest {
        var request = request
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        return request
    }

    /// Prints what the API answered: as it came with `--json`, else decoded and rendered for a person.
    func print<T: Decodable>(_ data: Data, as type: T.Type, _ render: (T) -> String) throws {
        Swift.print(json ? String(decoding: data, as: UTF8.self) : render(try JSONDecoder().decode(T.self, from: data)))
    }

    /// POSTs `body` (JSON) to `path`, only if the resource is still at `version` when one is given.
    func post(_ path: String, body: Data, ifVersion version: Int?) async throws -> Data {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let version { request.setValue("\"\(version)\"", forHTTPHeaderField: "If-Match") }
        request.httpBody = body
        return try await send(request)
    }

    /// The error for an answer other than 200: the problem's words, and the exit status it means.
    static func failure(status: Int, body data: Data, url: String) -> CLIError {
        let exitCode: Int32 = switch status {
        case 409: 3
        case 412: 4
        case 401, 403: 5
        default: 1
        }
        if status == 401 {
            return CLIError(
                "the order service wants a valid API key: set ORDERSAGA_API_KEY or pass --api-key "
                    + "(`ordersaga api-key create --name NAME --scope admin` makes one)", exitCode: exitCode)
        }
        if let problem = try? JSONDecoder().decode(ProblemDocument.self, from: data) {
            let fields = (problem.errors ?? []).map { "\($0.field): \($0.problem)" }
            return CLIError("\(problem.title): " + (fields.isEmpty ? problem.detail : fields.joined(separator: "; ")), exitCode: exitCode)
        }
        return CLIError("HTTP \(status) from \(url)", exitCode: exitCode)
    }

    private func send(_ request: URLRequest) async throws -> Data {
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: authorized(request))
        } catch {
            let reason = (error as NSError).userInfo[NSLocalizedDescriptionKey] as? String ?? "\(error)"
            throw CLIError("cannot reach the order service at \(baseURL) (is it running? see --url): \(reason)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else { throw Self.failure(status: status, body: data, url: request.url?.absoluteString ?? baseURL) }
        return data
    }
}

/// A failure the CLI reports in words on standard error, with its exit status.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32
    init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}

extension AsyncParsableCommand {
    /// Runs `body`; a ``CLIError`` is printed as `Error: …` with its exit status.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("Error: \(error.description)\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }
}

extension SagaStatusCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one saga's status, its steps and its timeline.",
            discussion: "Example: saga-status show 6f1c2d4e-3b1a-4c5d-9e8f-0a1b2c3d4e5f")

        @Argument(help: "The saga's id (a UUID, as the checkout answered).") var sagaID: String
        @OptionGroup var api: APIOptions

        func validate() throws {
            guard UUID(uuidString: sagaID) != nil else { throw ValidationError("\"\(sagaID)\" is not a saga id (a UUID)") }
        }

        func run() async throws {
            try await reporting {
                try api.print(try await api.get("/api/v1/sagas/\(sagaID.lowercased())"), as: SagaView.self) { SagaStatusFormatter.render($0, palette: .standardOutput) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let statuses = ["RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED", "FAILED"]
        static let configuration = CommandConfiguration(
            abstract: "List sagas, newest first, with the step each unfinished one waits on and its age.",
            discussion: """
                A page at a time: when there are more, the last line says how to get the next page.

                Examples:
                  saga-status list --status FAILED
                  saga-status list --status RUNNING --step payment --older-than 10m
                  saga-status list --type create_order --limit 100 --json | jq -r '.sagas[].id'
                """)

        @Option(help: "Only sagas with this status: \(statuses.joined(separator: ", ")).") var status: String?
        @Option(help: "Only sagas of this definition (create_order).") var type: String?
        @Option(help: "Only RUNNING or COMPENSATING sagas waiting on this step.") var step: String?
        @Option(help: "Only sagas created at least this long ago: a duration like 30s, 15m, 1h or 7d.") var olderThan: String?
        @Option(help: "How many at most (1 to 500).") var limit = 20
        @Option(help: "The page after the one that printed this cursor.") var cursor: String?
        @OptionGroup var api: APIOptions

        func validate() throws {
            if let status, !Self.statuses.contains(status.uppercased()) {
                throw ValidationError("--status must be one of \(Self.statuses.joined(separator: ", "))")
            }
            guard (1...500).contains(limit) else { throw ValidationError("--limit must be from 1 to 500") }
            if let olderThan, parseDuration(olderThan) == nil {
                throw ValidationError("--older-than must be a duration like 30s, 15m, 1h or 7d, not \"\(olderThan)\"")
            }
        }

        /// The query string, with `cursor` for another page.
        func query(cursor: String?) -> String {
            var items = [URLQueryItem(name: "limit", value: String(limit))]
            if let status { items.append(URLQueryItem(name: "status", value: status.uppercased())) }
            if let type { items.append(URLQueryItem(name: "type", value: type)) }
            if let step { items.append(URLQueryItem(name: "step", value: step)) }
            if let olderThan { items.append(URLQueryItem(name: "olderThan", value: olderThan)) }
            if let cursor { items.append(URLQueryItem(name: "cursor", value: cursor)) }
            var components = URLComponents()
            components.queryItems = items
            return components.percentEncodedQuery ?? ""
        }

        /// This command again, for the page at `cursor`.
        func command(cursor: String) -> String {
            var words = ["saga-status", "list"]
            for (flag, value) in [("--status", status), ("--type", type), ("--step", step), ("--older-than", olderThan), ("--url", api.url)] {
                if let value { words += [flag, value] }
            }
            if limit != 20 { words += ["--limit", String(limit)] }
            return (words + ["--cursor", cursor]).joined(separator: " ")
        }

        func run() async throws {
            try await reporting {
                let data = try await api.get("/api/v1/sagas?" + query(cursor: cursor))
                try api.print(data, as: SagaListView.self) { list in
                    let more = list.nextCursor.map(command(cursor:))
                    return SagaStatusFormatter.render(list, palette: .standardOutput, more: more)
                }
            }
        }
    }

    struct Stuck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the RUNNING and COMPENSATING sagas that have not changed for a while, longest first.",
            discussion: """
                A saga waiting on a step longer than that step's timeout and retries should have moved on:
                look at it with `saga-status show`, at the worker's log, and at the dead-letter queues.

                Examples:
                  saga-status stuck --for 5m
                  saga-status stuck --for 30s --status COMPENSATING --json | jq '.sagas | length'
                """)

        @Option(name: .customLong("for"), help: "Unchanged for at least this long: a duration like 30s, 15m, 1h or 7d.") var idle: String
        @Option(help: "Only RUNNING or only COMPENSATING sagas.") var status: String?
        @Option(help: "How many at most (1 to 500).") var limit = 20
        @OptionGroup var api: APIOptions

        func validate() throws {
            guard parseDuration(idle) != nil else {  // the server checks the range
                throw ValidationError("--for must be a duration like 30s, 15m, 1h or 7d, not \"\(idle)\"")
            }
            if let status, !["RUNNING", "COMPENSATING"].contains(status.uppercased()) {
                throw ValidationError("--status must be RUNNING or COMPENSATING: only those can be stuck")
            }
            guard (1...500).contains(limit) else { throw ValidationError("--limit must be from 1 to 500") }
        }

        func run() async throws {
            try await reporting {
                var path = "/api/v1/sagas?stuckFor=\(idle)&limit=\(limit)"
                if let status { path += "&status=\(status.uppercased())" }
                try api.print(try await api.get(path), as: SagaListView.self) { list in
                    list.sagas.isEmpty ? "no saga has been waiting for \(idle) or more" : SagaStatusFormatter.render(list, palette: .standardOutput)
                }
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a saga definition from sagas/: its steps as a table with how many sagas wait on each now, or as a Mermaid diagram.",
            discussion: """
                The live counts come from the order service (`/api/v1/sagas/stats`, the last 30 days); \
                when it cannot be reached the table still prints, with `-` in that column.

                Examples:
                  saga-status describe create_order
                  saga-status describe create_order --sagas /etc/ordersaga/sagas --url http://orders:8080
                  saga-status describe create_order --mermaid > create_order.mmd
                """)

        @Argument(help: "The saga's name: the file <name>.yaml in the sagas folder.") var name = "create_order"
        @Option(help: "The folder of saga definitions (default: $ORDERSAGA_SAGAS_DIRECTORY or sagas).") var sagas: String?
        @Flag(help: "Print a Mermaid flowchart instead of the table.") var mermaid = false
        @OptionGroup var api: APIOptions

        func validate() throws {
            guard name.wholeMatch(of: /[A-Za-z0-9_-]+/) != nil else { throw ValidationError("\"\(name)\" is not a saga name (letters, digits, _ and -)") }
        }

        func run() async throws {
            let folder = sagas ?? ProcessInfo.processInfo.environment["ORDERSAGA_SAGAS_DIRECTORY"] ?? "sagas"
            let file = URL(fileURLWithPath: folder).appendingPathComponent("\(name).yaml")
            let definition: SagaDefinition
            do {
                definition = try SagaDefinition(yaml: try String(contentsOf: file, encoding: .utf8), file: file.path)
            } catch let error as SagaDefinitionError {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                throw ExitCode(1)
            } catch {
                FileHandle.standardError.write(Data("Error: cannot read \(file.path): \(error.localizedDescription) (see --sagas)\n".utf8))
                throw ExitCode(1)
            }
            if mermaid {
                print(SagaDescription.mermaid(definition))
                return
            }
            if api.json {  // the definition as the order service reads it
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(definition), as: UTF8.self))
                return
            }
            let stats = try? JSONDecoder().decode(SagaStatsView.self, from: await api.get("/api/v1/sagas/stats?window=30d"))
            print(SagaDescription.table(definition, waiting: stats?.waiting))
            if stats == nil { print("\n(no live counts: the order service at \(api.baseURL) did not answer; see --url)") }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count the sagas started lately by status, show what those in flight wait on, and how long the ended ones took.",
            discussion: """
                Examples:
                  saga-status stats                 # the last hour
                  saga-status stats --window 15m
                  saga-status stats --window 7d --json | jq .waiting
                """)

        @Option(help: "How far back: a duration like 90s, 15m, 1h or 7d (at most 30d).") var window = "1h"
        @OptionGroup var api: APIOptions

        func validate() throws {
            guard parseDuration(window) != nil else {  // the server checks the range
                throw ValidationError("--window must be a duration like 90s, 15m, 1h or 7d, not \"\(window)\"")
            }
        }

        func run() async throws {
            try await reporting {
                try api.print(try await api.get("/api/v1/sagas/stats?window=\(window)"), as: SagaStatsView.self, SagaStatusFormatter.render)
            }
        }
    }
}
