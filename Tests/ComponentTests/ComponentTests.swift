import Foundation
import CartWorker
import CheckoutContracts
import SagaCore
import SagaStatusCLI
import Testing

/// Pure pieces of the workers and the CLI, tested without any server.
@Suite struct ComponentTests {
    @Test func cartStateIsRebuiltFromItsEvents() {
        let events = [
            Cart.Event(seq: 1, type: "CART_CREATED", customerID: "c", sagaID: nil),
            Cart.Event(seq: 2, type: "ITEM_ADDED", customerID: "c", sagaID: nil),
            Cart.Event(seq: 3, type: "CART_CONVERTED", customerID: "c", sagaID: "s1"),
        ]
        #expect(Cart(id: "x", events: []) == nil)
        #expect(Cart(id: "x", events: events)?.status == .converted)
        #expect(Cart(id: "x", events: events)?.convertedBy == "s1")
        let restored = Cart(id: "x", events: events + [Cart.Event(seq: 4, type: "CART_RESTORED", customerID: "c", sagaID: "s1")])
        #expect(restored?.status == .active)
        #expect(restored?.version == 4)
    }

    /// Items are added (quantities sum), set, and removed; the order is the order of first adding.
    @Test func cartItemsAreFoldedFromTheirEvents() {
        let events = [
            Cart.Event(seq: 1, type: Cart.EventType.created, customerID: "c", sagaID: nil),
            Cart.Event(seq: 2, type: Cart.EventType.itemAdded, customerID: "c", sagaID: nil, productID: "mug", quantity: 2),
            Cart.Event(seq: 3, type: Cart.EventType.itemAdded, customerID: "c", sagaID: nil, productID: "beans", quantity: 1),
            Cart.Event(seq: 4, type: Cart.EventType.itemAdded, customerID: "c", sagaID: nil, productID: "mug", quantity: 3),
            Cart.Event(seq: 5, type: Cart.EventType.itemQuantitySet, customerID: "c", sagaID: nil, productID: "beans", quantity: 4),
            Cart.Event(seq: 6, type: Cart.EventType.itemAdded, customerID: "c", sagaID: nil, productID: "kettle", quantity: 1),
            Cart.Event(seq: 7, type: Cart.EventType.itemRemoved, customerID: "c", sagaID: nil, productID: "mug"),
        ]
        let cart = Cart(id: "x", events: events)
        #expect(cart?.items.map(\.productID) == ["beans", "kettle"])
        #expect(cart?.items.map(\.quantity) == [4, 1])
        #expect(Cart(id: "x", events: Array(events.prefix(4)))?.items.map(\.quantity) == [5, 1])
        // Setting a quantity of 0 removes the line; adding it again puts it last.
        let again = Cart(id: "x", events: events + [Cart.Event(seq: 8, type: Cart.EventType.itemAdded, customerID: "c", sagaID: nil, productID: "mug", quantity: 1)])
        #expect(again?.items.map(\.productID) == ["beans", "kettle", "mug"])
        #expect(again?.version == 8)
    }

    @Test func formatterAlignsStepsAndTimeline() {
        let saga = SagaView(
            id: "s-1", orderId: "o-1", definition: .init(name: "create_order", version: 1), status: "COMPLETED",
            failureReason: nil, deadlineAt: nil,
            steps: [.init(name: "reserve-inventory", status: "SUCCEEDED", attempt: 1, compensationAttempt: 0),
                    .init(name: "validate-coupon", status: "SKIPPED", attempt: 0, compensationAttempt: 0)],
            timeline: [.init(at: "2026-01-01T00:00:00.000Z", event: "saga_started", step: nil, attempt: nil, detail: "create_order v1"),
                       .init(at: "2026-01-01T00:00:00.010Z", event: "step_succeeded", step: "reserve-inventory", attempt: 1, detail: nil),
                       .init(at: "2026-01-01T00:00:01.000Z", event: "operator_retry", step: "validate-coupon", attempt: nil, detail: "fixed", actor: "alice")],
            createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:00.010Z", version: 2)
        #expect(SagaStatusFormatter.render(saga) == """
            saga     s-1
            order    o-1
            saga def create_order v1
            status   COMPLETED
            created  2026-01-01T00:00:00.000Z
            updated  2026-01-01T00:00:00.010Z
            version  2

            STEPS
              reserve-inventory  SUCCEEDED     attempts 1
              validate-coupon    SKIPPED

            TIMELINE
              2026-01-01T00:00:00.000Z  saga_started                          create_order v1
              2026-01-01T00:00:00.010Z  step_succeeded  reserve-inventory #1
              2026-01-01T00:00:01.000Z  operator_retry  validate-coupon       by alice: fixed
            """)
    }

    @Test func statsAreOneReadableScreen() {
        let stats = SagaStatsView(
            window: "15m", started: 7, byStatus: ["RUNNING": 3, "COMPLETED": 4],
            waiting: [.init(step: "payment", phase: "command", count: 2), .init(step: "reserve-inventory", phase: "compensation", count: 1)],
            ended: .init(count: 4, p50Ms: 68.4, p99Ms: 1412))
        #expect(SagaStatusFormatter.render(stats) == """
            SAGAS STARTED IN THE LAST 15M: 7
              RUNNING       3
              COMPENSATING  0
              COMPLETED     4
              COMPENSATED   0
              FAILED        0

            IN FLIGHT, BY WHAT THEY WAIT ON
              payment (command)                2
              reserve-inventory (compensation) 1

            ENDED  4, creation to end p50 68 ms, p99 1.4 s
            """)
        let none = SagaStatsView(window: "1h", started: 0, byStatus: [:], waiting: [], ended: .init(count: 0, p50Ms: 0, p99Ms: 0))
        #expect(SagaStatusFormatter.render(none).contains("(none)") && SagaStatusFormatter.render(none).hasSuffix("ENDED  none yet"))
    }
}

/// `saga-status describe`, from the shipped definition.
@Suite struct SagaDescriptionTests {
    static func shipped() throws -> SagaDefinition {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sagas/create_order.yaml")
        return try SagaDefinition(yaml: try String(contentsOf: file, encoding: .utf8), file: file.path)
    }

    @Test func theTableNamesEachStepsKindAndWhatWaitsOnIt() throws {
        let table = SagaDescription.table(try Self.shipped(), waiting: [
            .init(step: "payment", phase: "command", count: 2), .init(step: "reserve-inventory", phase: "compensation", count: 1),
        ])
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines[0] == "create_order v2: 5 steps, pivot cart-convert")
        let rows = Dictionary(uniqueKeysWithValues: lines.compactMap { line -> (String, [String])? in
            let cells = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            return cells.count >= 8 ? (cells[0], cells) : nil
        })
        #expect(rows["payment"]?[1] == "compensable" && rows["payment"]?.last == "2")
        #expect(rows["cart-convert"]?[1] == "pivot" && rows["cart-convert"]?[4] == "cart.restore_cart")
        #expect(rows["notify"]?[1] == "retriable" && rows["notify"]?[4] == "-" && rows["notify"]?[6] == "30")
        #expect(table.contains("0 (+1 undoing)"))
        #expect(SagaDescription.table(try Self.shipped(), waiting: nil).contains("5s       3         -"))
    }

    @Test func theDiagramRunsToCompletedAndFailuresUndoNewestFirst() throws {
        let diagram = SagaDescription.mermaid(try Self.shipped())
        #expect(diagram.hasPrefix("flowchart LR\n"))
        #expect(diagram.contains("s_notify --> done([COMPLETED])"))
        #expect(diagram.contains("s_cart_convert{{\"cart-convert<br/>cart: cart.convert_cart\"}}"))  // the pivot's shape
        #expect(diagram.contains("s_payment -. fails .-> u_validate_coupon"))
        #expect(diagram.contains("u_validate_coupon --> u_reserve_inventory"))
        #expect(diagram.contains("u_reserve_inventory --> compensated([COMPENSATED])"))
        #expect(diagram.contains("s_notify -. operator compensates .-> u_cart_convert"))
    }
}

/// `saga-status watch` reads the event stream in whatever chunks the network gives.
@Suite struct ServerSentEventsTests {
    static let stream = "id: 0\nevent: timeline\ndata: {\"event\":\"saga_started\"}\n\n: keep-alive\n\nevent: status\r\ndata: {\"status\":\"COMPENSATING\"}\r\n\r\ndata: one\ndata: two\n\nevent: end\ndata: {}\n\n"

    @Test func eventsAreTheSameHoweverTheStreamIsCut() {
        let expected: [ServerSentEvents.Event] = [
            .init(name: "timeline", id: "0", data: #"{"event":"saga_started"}"#),
            .init(name: "status", id: nil, data: #"{"status":"COMPENSATING"}"#),
            .init(name: "message", id: nil, data: "one\ntwo"),
            .init(name: "end", id: nil, data: "{}"),
        ]
        let bytes = Array(Self.stream.utf8)
        for size in [1, 2, 7, 64, bytes.count] {
            var parser = ServerSentEvents()
            var events: [ServerSentEvents.Event] = []
            var start = 0
            while start < bytes.count {
                events += parser.feed(bytes[start..<min(start + size, bytes.count)])
                start += size
            }
            #expect(events == expected, "cut every \(size) bytes")
        }
    }

    @Test func anUnfinishedEventIsHeldBack() {
        var parser = ServerSentEvents()
        #expect(parser.feed(Array("event: end\ndata: {}\n".utf8)).isEmpty)
        #expect(parser.feed(Array("\n".utf8)) == [.init(name: "end", id: nil, data: "{}")])
    }
}

/// On a terminal each status and event is coloured by its meaning; the columns stay aligned
/// because the padding is outside the colour.
@Suite struct PaletteTests {
    @Test func wordsAreColouredByMeaningAndPaddedOutside() {
        let terminal = Palette(enabled: true)
        #expect(terminal.word("COMPLETED", width: 12) == "\u{1B}[32mCOMPLETED\u{1B}[0m   ")
        #expect(terminal.word("FAILED") == "\u{1B}[31mFAILED\u{1B}[0m")
        #expect(terminal.word("compensation_sent").hasPrefix("\u{1B}[33m"))
        #expect(terminal.word("operator_retry").hasPrefix("\u{1B}[35m"))
        #expect(terminal.word("something_new", width: 15) == "something_new  ")
        #expect(Palette.plain.word("COMPLETED", width: 12) == "COMPLETED   ")
    }
}
