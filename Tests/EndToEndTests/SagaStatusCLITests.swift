import CheckoutContracts
import Foundation
import Hummingbird
import HummingbirdTesting
import OrderService
import SagaCore
import Messaging
import SagaStatusCLI
import Testing
import TestSupport

/// The real `saga-status` binary against the order service listening on a real port.
@Suite struct SagaStatusCLITests {
    static let binary = TestSystem.repositoryRoot.appendingPathComponent(".build/debug/saga-status")

    /// Runs the binary; returns its exit status and standard output.
    /// Runs the binary with `ORDERSAGA_API_KEY` set to the live service's admin key, as an
    /// operator's shell would have it (none outside ``withLiveOrderService``).
    func sagaStatus(_ arguments: [String]) async throws -> (Int32, String) {
        try await Process.output(of: Self.binary, arguments, environment: Self.apiKey.map { ["ORDERSAGA_API_KEY": $0] } ?? [:])
    }

    /// The admin key of the service ``withLiveOrderService`` runs.
    @TaskLocal static var apiKey: String?

    /// A fresh system with the order service on a real port and `workers` running (`definition`:
    /// a create_order definition to run instead of the file's); `body` gets the system, a REST
    /// client and the service's URL, for `--url`.
    func withLiveOrderService(
        workers: [String] = SagaTopology.participants, definition: (@Sendable (TestSystem) throws -> SagaDefinition)? = nil,
        _ body: @escaping @Sendable (TestSystem, CheckoutClient, String) async throws -> Void
    ) async throws {
        try await TestSystem.with { system in
            var configuration = system.orderServiceConfiguration
            configuration.port = 0
            if let definition { configuration.definition = try definition(system) }
            let app = try await buildOrderService(configuration, logger: system.logger)
            try await system.running(system.workerServices(workers)) {
                let key = system.adminKey
                try await app.test(.live) { client in
                    try await Self.$apiKey.withValue(key) {
                        try await body(system, CheckoutClient(client: client.authorized(key)), "http://127.0.0.1:\(client.port!)")
                    }
                }
            }
        }
    }

    @Test func showAndListPrintWhatTheAPISays() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build the package first: \(Self.binary.path)")
        try await withLiveOrderService { system, api, url in
            let accepted = try await api.checkout(CheckoutClient.body(coupon: "EXPIRED5"))
            #expect(try await api.finishedSaga(accepted.sagaId).status == "COMPENSATED")

            let (jsonStatus, json) = try await sagaStatus(["show", accepted.sagaId, "--url", url, "--json"])
            #expect(jsonStatus == 0)
            let document = try JSONDecoder().decode(SagaView.self, from: Data(json.utf8))
            #expect(document.id == accepted.sagaId)

            // The table is exactly the rendering of what the API said.
            let (status, text) = try await sagaStatus(["show", accepted.sagaId, "--url", url])
            #expect(status == 0)
            #expect(text == SagaStatusFormatter.render(document) + "\n")
            #expect(text.contains("status   COMPENSATED"))
            #expect(text.contains("reason   validate-coupon failed: coupon_expired"))
            #expect(text.contains("reserve-inventory  COMPENSATED   attempts 1, compensation attempts 1"))
            #expect(text.contains("step_compensated"))
            // The payload: what the checkout gave and what the steps added.
            #expect(text.contains("PAYLOAD\n  {\n"), "\(text)")
            #expect(text.contains(#"    "couponCode" : "EXPIRED5","#), "\(text)")
            #expect(text.contains(#""subtotalCents" : "#), "\(text)")

            // watch of an ended saga: its whole timeline and its end, at once; --json gives one event a line.
            let (endedStatus, watched) = try await sagaStatus(["watch", accepted.sagaId, "--url", url, "--json"])
            #expect(endedStatus == 2, "a saga that compensated exits 2: \(watched)")
            let events = watched.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(events.filter { $0["event"] as? String == "timeline" }.count == document.timeline.count)
            #expect(events.last?["event"] as? String == "end")
            #expect((events.last?["data"] as? [String: Any])?["status"] as? String == "COMPENSATED")

            let (listStatus, list) = try await sagaStatus(["list", "--status", "compensated", "--url", url])
            #expect(listStatus == 0)
            #expect(list.contains("\(accepted.sagaId)  COMPENSATED"))
            // The window's counts and durations, from PostgreSQL's clock.
            let (statsStatus, statsJSON) = try await sagaStatus(["stats", "--url", url, "--json"])
            #expect(statsStatus == 0, "\(statsJSON)")
            let stats = try JSONDecoder().decode(SagaStatsView.self, from: Data(statsJSON.utf8))
            #expect(stats.started == 1 && stats.byStatus["COMPENSATED"] == 1 && stats.waiting.isEmpty)
            #expect(stats.ended.count == 1 && stats.ended.p50Ms > 0 && stats.ended.p99Ms >= stats.ended.p50Ms)
            let (_, statsText) = try await sagaStatus(["stats", "--window", "15m", "--url", url])
            #expect(statsText.contains("SAGAS STARTED IN THE LAST 15M: 1") && statsText.contains("ENDED  1, creation to end p50"), "\(statsText)")
            let (badWindow, badText) = try await sagaStatus(["stats", "--window", "soon", "--url", url])
            #expect(badWindow == 64 && badText.contains("--window must be a duration"))

            let (_, none) = try await sagaStatus(["list", "--status", "RUNNING", "--url", url])
            #expect(none == "no sagas\n")

            let (missingStatus, missing) = try await sagaStatus(["show", UUID().uuidString, "--url", url])
            #expect(missingStatus != 0)
            #expect(missing.contains("Not found: no saga"))
        }
    }

    /// With the catalog worker away, a checkout waits on its first step: `stuck` finds it once it
    /// has waited longer than asked, and not before. The step's timeout is long, so no retry
    /// touches the saga while the test looks (a loaded machine can take many seconds here).
    @Test func stuckListsASagaWaitingOnAWorkerThatIsAway() async throws {
        try await withLiveOrderService(workers: ["promotion", "identity", "cart", "notification"], definition: BrokerRestartTests.withoutRetries) { system, api, url in
            let accepted = try await api.checkout(CheckoutClient.body())
            let (_, none) = try await sagaStatus(["stuck", "--for", "1h", "--url", url])
            #expect(none.contains("no saga has been waiting for 1h or more"), "\(none)")
            try await Task.sleep(for: .milliseconds(1500))
            let (status, json) = try await sagaStatus(["stuck", "--for", "1s", "--url", url, "--json"])
            #expect(status == 0, "\(json)")
            let stuck = try JSONDecoder().decode(SagaListView.self, from: Data(json.utf8))
            #expect(stuck.sagas.map(\.id) == [accepted.sagaId])
            let (_, text) = try await sagaStatus(["stuck", "--for", "1s", "--url", url])
            #expect(text.contains(accepted.sagaId) && text.contains("RUNNING"))
            let (badStatus, bad) = try await sagaStatus(["stuck", "--for", "1s", "--status", "FAILED", "--url", url])
            #expect(badStatus == 64 && bad.contains("only those can be stuck"))

            // list pages through PostgreSQL by keyset: two more sagas wait on the same step.
            let more = [try await api.checkout(CheckoutClient.body(cart: "cart-ada-2")), try await api.checkout(CheckoutClient.body(cart: "cart-ada-3"))]
            let (pageStatus, page) = try await sagaStatus(["list", "--step", "reserve-inventory", "--limit", "2", "--url", url])
            #expect(pageStatus == 0, "\(page)")
            let rows = page.split(separator: "\n")
            #expect(rows.first?.hasPrefix("SAGA") == true && rows.first?.contains("STEP") == true && rows.first?.contains("AGE") == true)
            #expect(rows.dropFirst().prefix(2).map { String($0.prefix(36)) } == [more[1].sagaId, more[0].sagaId], "\(page)")
            #expect(rows.dropFirst().prefix(2).allSatisfy { $0.contains("RUNNING") && $0.contains("reserve-inventory") })
            let next = try #require(rows.last.flatMap { $0.hasPrefix("more: saga-status list ") ? $0.dropFirst(18) : nil }, "\(page)")
            let (_, last) = try await sagaStatus(next.split(separator: " ").map(String.init))
            #expect(last.split(separator: "\n").dropFirst().map { String($0.prefix(36)) } == [accepted.sagaId], "\(last)")

            // describe: the shipped definition, with the three sagas waiting on its first step.
            let sagas = TestSystem.repositoryRoot.appendingPathComponent("sagas").path
            let (describeStatus, table) = try await sagaStatus(["describe", "create_order", "--sagas", sagas, "--url", url])
            #expect(describeStatus == 0, "\(table)")
            let first = table.split(separator: "\n").first { $0.hasPrefix("reserve-inventory ") }.map(String.init) ?? ""
            #expect(first.hasSuffix(" 3"), "\(table)")
            let (cancelStatus, cancel) = try await sagaStatus(["describe", "cancel_order", "--sagas", sagas, "--url", url])
            #expect(cancelStatus == 0 && cancel.contains("refund-payment") && cancel.contains("retriable"), "\(cancel)")
            let (missingStatus, missing) = try await sagaStatus(["describe", "return_order", "--sagas", sagas, "--url", url])
            #expect(missingStatus == 1 && missing.contains("return_order.yaml"), "\(missing)")
        }
    }

    /// `watch` follows a saga that waits on an absent worker, prints each line as it happens, and
    /// ends when the saga does; a saga that already ended is printed whole at once.
    @Test func watchFollowsASagaLiveUntilItEnds() async throws {
        try await withLiveOrderService(workers: ["promotion", "identity", "cart", "notification"], definition: BrokerRestartTests.withoutRetries) { system, api, url in
            let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
            // Watching while the saga waits on the catalog, which is away.
            let watch = Task { try await sagaStatus(["watch", accepted.sagaId, "--url", url]) }
            try await Task.sleep(for: .seconds(1))
            let (status, output) = try await system.running(system.workerServices(["catalog"])) { try await watch.value }
            #expect(status == 0, "\(output)")
            let lines = output.split(separator: "\n")
            #expect(lines.first == "watching saga \(accepted.sagaId) (Ctrl-C stops watching, not the saga)")
            #expect(lines.contains { $0.contains("command_sent") && $0.contains("reserve-inventory #1") })
            #expect(lines.contains { $0.contains("step_succeeded") && $0.contains("notify #1") })
            #expect(lines.last == "ended    COMPLETED", "\(output)")
            // Each line once, in order: as many as the saga's timeline has.
            let saga = try await api.finishedSaga(accepted.sagaId)
            #expect(lines.filter { $0.hasPrefix("  ") }.count == saga.timeline.count, "\(output)")

            let (missingStatus, missing) = try await sagaStatus(["watch", UUID().uuidString, "--url", url])
            #expect(missingStatus == 1 && missing.contains("Not found: no saga"), "\(missing)")
        }
    }

    /// In a real terminal (tmux), `show` and `watch` colour each status and event by its meaning;
    /// piped, as in the tests above, they print plain text.
    @Test(.enabled(if: DeploymentTests.findTool("tmux") != nil, "needs tmux, which scripts/test installs"))
    func onATerminalStatusesAreColoured() async throws {
        try await withLiveOrderService { system, api, url in
            let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
            #expect(try await api.finishedSaga(accepted.sagaId).status == "COMPLETED")
            let tmux = DeploymentTests.findTool("tmux")!
            let socket = "ordersaga-\(UUID().uuidString.prefix(8))"
            // As a person's shell would run it (the test runner sets NO_COLOR for its own output).
            let command = "unset NO_COLOR; export ORDERSAGA_API_KEY=\(Self.apiKey ?? ""); \(Self.binary.path) show \(accepted.sagaId) --url \(url); \(Self.binary.path) watch \(accepted.sagaId) --url \(url); sleep 60"
            // Not waited for: Foundation sees the client run as long as the tmux server it forks
            // (which keeps a descriptor of the client's).
            let start = Process()
            start.executableURL = tmux
            start.arguments = ["-L", socket, "new-session", "-d", "-x", "160", "-y", "80", command]
            start.standardOutput = FileHandle.nullDevice
            start.standardError = FileHandle.nullDevice
            try start.run()
            var screen = ""
            _ = await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
                screen = (try? await Process.output(of: tmux, ["-L", socket, "capture-pane", "-p", "-e", "-S", "-80"]).output) ?? ""
                return screen.contains("ended")
            }
            _ = try await Process.output(of: tmux, ["-L", socket, "kill-server"])
            // tmux writes the colours back as SGR sequences: green COMPLETED, cyan command_sent.
            #expect(screen.contains("\u{1B}[32mCOMPLETED"), "\(screen)")
            #expect(screen.contains("\u{1B}[36mcommand_sent"), "\(screen)")
            #expect(screen.contains("\u{1B}[32mstep_succeeded"), "\(screen)")
            #expect(screen.contains("ended    \u{1B}[32mCOMPLETED"), "\(screen)")
        }
    }

    @Test func badArgumentsAreRefusedBeforeAnyRequest() async throws {
        let (status, output) = try await sagaStatus(["show", "not-a-uuid"])
        #expect(status == 64)
        #expect(output.contains("\"not-a-uuid\" is not a saga id (a UUID)"))
        let (listStatus, list) = try await sagaStatus(["list", "--status", "DONE"])
        #expect(listStatus == 64)
        #expect(list.contains("--status must be one of RUNNING, COMPENSATING, COMPLETED, COMPENSATED, FAILED"))
    }

    /// A refund that gave up parks its saga FAILED; once the identity worker is back, the
    /// operator's `retry` through the real binary finishes the undoing. Acting on a stale version,
    /// or on a saga whose state does not allow it, exits with its own status and changes nothing.
    @Test func operatorRetryThroughTheCLIRecoversAParkedCompensation() async throws {
        try await withLiveOrderService(workers: ["catalog", "promotion", "cart", "notification"], definition: { system in try HardCaseTests.fastPayment(system, compensationAttempts: 2) }) { system, api, url in
            let initialStock = try await Invariants.stock(in: system)
            let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
            let parked = try await api.finishedSaga(accepted.sagaId)
            #expect(parked.status == "FAILED")

            // The identity worker comes back; nothing happens until an operator acts.
            try await system.running(system.workerServices(["identity"])) {
                // Its consumer is up before the operator acts: the retried refund has 400 ms, as the first had.
                #expect(await system.hasConsumer("identity.commands"))
                let (staleStatus, stale) = try await sagaStatus(["retry", accepted.sagaId, "--if-version", "\(parked.version - 1)", "--operator", "bob", "--url", url])
                #expect(staleStatus == 4)
                #expect(stale.contains("The saga changed since you read it"))

                let (status, text) = try await sagaStatus([
                    "retry", accepted.sagaId, "--reason", "identity worker redeployed", "--operator", "alice",
                    "--if-version", "\(parked.version)", "--url", url])
                #expect(status == 0, "\(text)")
                #expect(text.contains("operator_retry"))
                #expect(text.contains("by alice: identity worker redeployed"))
                let saga = try await api.finishedSaga(accepted.sagaId)
                #expect(saga.status == "COMPENSATED")
                #expect(saga.failureReason == "payment timed out after 3 attempts")
                #expect(saga.timeline.filter { $0.event == "step_compensated" }.compactMap(\.step) == ["payment", "validate-coupon", "reserve-inventory"])
                #expect(try await api.order(accepted.orderId).status == "CANCELLED")

                let (refusedStatus, refused) = try await sagaStatus(["abort", accepted.sagaId, "--reason", "too late", "--url", url])
                #expect(refusedStatus == 3)
                #expect(refused.contains("the saga is COMPENSATED: only a RUNNING or COMPENSATING saga can be aborted"))
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }

    @Test func operatorCommandsCheckTheirArgumentsBeforeAnyRequest() async throws {
        let (status, output) = try await sagaStatus(["abort", UUID().uuidString])
        #expect(status == 64)
        #expect(output.contains("Missing expected argument '--reason <reason>'"))
        let (skipStatus, skip) = try await sagaStatus(["skip", UUID().uuidString, "--step", "payment", "--result", "[1]"])
        #expect(skipStatus == 64)
        #expect(skip.contains("--result must be a JSON object"))
    }
}
