import ArgumentParser
import Foundation
import Messaging
import OrderService

/// `ordersaga read-model rebuild|check`: the orders API's read model against the order events.
struct ReadModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-model",
        abstract: "Check or rebuild the read model the orders API is served from.",
        discussion: """
            Every order event (order.created, the payment's outcome, order.confirmed, \
            order.cancelled, order.failed) is kept in order_events and folded, in the \
            transaction that emits it, into the order's row of order_views, which GET \
            /api/v1/orders and GET /api/v1/orders/{id} read.

            These commands use the order service's database (--postgres-url or \
            ORDERSAGA_POSTGRES_URL).

            Examples:
              export ORDERSAGA_POSTGRES_URL=postgresql://order_service:secret@db/order_db
              ordersaga read-model check
              ordersaga read-model rebuild
            """,
        subcommands: [Check.self, Rebuild.self])

    struct Database: ParsableArguments {
        @Option(name: .customLong("postgres-url"), help: "The order service's database URL (or ORDERSAGA_POSTGRES_URL).")
        var postgresURL: String?

        func url() throws -> String {
            let settings = SettingsReader(overrides: postgresURL.map { [OrderSagaSettings.postgresURL.key: $0] } ?? [:])
            return try settings.required(OrderSagaSettings.postgresURL, flag: "--postgres-url")
        }
    }

    /// Progress on standard error, for long folds: one line rewritten on a terminal, a line per
    /// 10,000 orders otherwise.
    static func progress(_ orders: Int, _ events: Int) {
        if isatty(STDERR_FILENO) == 1 {
            FileHandle.standardError.write(Data("\rfolded \(orders) orders from \(events) events…".utf8))
        } else if orders % 10_000 == 0 {
            FileHandle.standardError.write(Data("folded \(orders) orders from \(events) events…\n".utf8))
        }
    }

    /// Ends the terminal's progress line.
    static func progressDone() {
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// Runs `fold` against the database with progress on standard error; what it found, and how
    /// many seconds it took (`1.49`).
    static func timed(
        _ database: Database,
        _ fold: (String, @escaping @Sendable (Int, Int) -> Void) async throws -> ReadModelFold
    ) async throws -> (ReadModelFold, String) {
        let started = ContinuousClock.now
        let result = try await fold(try database.url(), progress)
        progressDone()
        let elapsed = (ContinuousClock.now - started).components
        return (result, String(format: "%.2f", Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18))
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare every row of order_views with what order_events fold to; change nothing.",
            discussion: """
                Reads one snapshot. Exit status 0 when every view is what its events fold to, 1 \
                when one differs or has no events (each named), or on an error.

                Example:
                  ordersaga read-model check \\
                    --postgres-url postgresql://order_service:secret@db/order_db
                """)

        @OptionGroup var database: Database

        func run() async throws {
            let (fold, seconds) = try await ReadModelCommand.timed(database) { try await OrderReadModelMaintenance.check(postgresURL: $0, progress: $1) }
            for id in fold.differing { print("order \(id): its view differs from what its events fold to") }
            for id in fold.unfolded { print("order \(id): a view with no events") }
            let problems = fold.differing.count + fold.unfolded.count
            print("checked order_views: \(fold.orders) orders from \(fold.events) events in \(seconds) s; "
                + (problems == 0 ? "every view is what its events fold to" : "\(problems) differ (ordersaga read-model rebuild folds them again)"))
            if problems > 0 { throw ExitCode.failure }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every row of order_views and fold them all again from order_events.",
            discussion: """
                One transaction: readers see the old rows until it commits, and the order \
                service's writes wait for it. The result is the rows the service kept up to date \
                itself. Progress goes to standard error; the totals to standard output.

                Example:
                  ordersaga read-model rebuild \\
                    --postgres-url postgresql://order_service:secret@db/order_db
                """)

        @OptionGroup var database: Database

        func run() async throws {
            let (fold, seconds) = try await ReadModelCommand.timed(database) { try await OrderReadModelMaintenance.rebuild(postgresURL: $0, progress: $1) }
            print("rebuilt order_views: \(fold.orders) orders from \(fold.events) events in \(seconds) s")
        }
    }
}
