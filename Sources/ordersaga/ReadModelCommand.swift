import ArgumentParser
import Foundation
import Messaging
import OrderService

/// `ordersaga read-model rebuild`: the orders API's read model, folded again from the order events.
struct ReadModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-model",
        abstract: "Maintain the read model the orders API is served from.",
        discussion: """
            Every order event (order.created, the payment's outcome, order.confirmed, \
            order.cancelled, order.failed) is kept in order_events and folded, in the \
            transaction that emits it, into the order's row of order_views, which GET \
            /api/v1/orders and GET /api/v1/orders/{id} read.

            Examples:
              ordersaga read-model rebuild --postgres-url postgresql://order_service:secret@127.0.0.1:5432/order_db
            """,
        subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every row of order_views and fold them all again from order_events.",
            discussion: """
                One transaction: readers see the old rows until it commits, and the order \
                service's writes wait for it. The result is the rows the service kept up to date \
                itself. Progress goes to standard error; the totals to standard output.

                Example:
                  ordersaga read-model rebuild --postgres-url postgresql://order_service:secret@127.0.0.1:5432/order_db
                """)

        @Option(name: .customLong("postgres-url"), help: "The order service's database URL (or ORDERSAGA_POSTGRES_URL).")
        var postgresURL: String?

        func run() async throws {
            let settings = SettingsReader(overrides: postgresURL.map { [OrderSagaSettings.postgresURL.key: $0] } ?? [:])
            let url = try settings.required(OrderSagaSettings.postgresURL, flag: "--postgres-url")
            let started = ContinuousClock.now
            let (orders, events) = try await OrderReadModelRebuild.run(postgresURL: url) { orders, events in
                FileHandle.standardError.write(Data("folded \(orders) orders from \(events) events…\n".utf8))
            }
            let seconds = (ContinuousClock.now - started).components
            let elapsed = Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18
            print("rebuilt order_views: \(orders) orders from \(events) events in \(String(format: "%.2f", elapsed)) s")
        }
    }
}
