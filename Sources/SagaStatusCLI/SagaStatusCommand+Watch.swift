import ArgumentParser
import AsyncHTTPClient
import CheckoutContracts
import Foundation
import NIOCore

extension SagaStatusCommand {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow one saga live: each timeline line as it happens, until the saga ends.",
            discussion: """
                Reads the order service's event stream (GET /api/v1/sagas/{id}/events). A saga that has \
                already ended prints its whole timeline and its end at once. A lost connection is \
                resumed where it stopped, for up to a minute.

                Examples:
                  saga-status watch 6f1c2d4e-3b1a-4c5d-9e8f-0a1b2c3d4e5f
                  saga-status watch 6f1c2d4e-3b1a-4c5d-9e8f-0a1b2c3d4e5f --json | jq -c 'select(.event == "end")'

                Exit status: 0 the saga COMPLETED; 2 it ended COMPENSATED or FAILED; 1 the service could not \
                be reached (or answered an error); 64 the command line is wrong.
                """)

        @Argument(help: "The saga's id (a UUID, as the checkout answered).") var sagaID: String
        @OptionGroup var api: APIOptions

        func validate() throws {
            guard UUID(uuidString: sagaID) != nil else { throw ValidationError("\"\(sagaID)\" is not a saga id (a UUID)") }
        }

        func run() async throws {
            var final: String?
            try await reporting {
                final = try await follow()
            }
            if let final, final != "COMPLETED" { throw ExitCode(2) }
        }

        /// Prints the stream's events until `end`; returns the final status.
        func follow() async throws -> String {
            let url = api.baseURL + "/api/v1/sagas/\(sagaID.lowercased())/events"
            var lastEventID: String?
            var lostSince: ContinuousClock.Instant?
            if !api.json { print("watching saga \(sagaID.lowercased()) (Ctrl-C stops watching, not the saga)") }
            while true {
                var request = HTTPClientRequest(url: url)
                request.headers.add(name: "Accept", value: "text/event-stream")
                if let authorization = api.authorization { request.headers.add(name: "Authorization", value: authorization) }
                if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
                do {
                    let response = try await HTTPClient.shared.execute(request, deadline: .distantFuture)
                    guard response.status == .ok else {
                        let body = try await response.body.collect(upTo: 1 << 20)
                        throw APIOptions.failure(status: Int(response.status.code), body: Data(body.readableBytesView), url: url)
                    }
                    lostSince = nil
                    var parser = ServerSentEvents()
                    for try await buffer in response.body {
                        for event in parser.feed(buffer.readableBytesView) {
                            if let id = event.id { lastEventID = id }
                            if let final = try show(event) { return final }
                        }
                    }
                } catch let error as CLIError {
                    throw error
                } catch {
                    // The connection broke (the service restarted): resume where it stopped, for a while.
                    let since = lostSince ?? .now
                    lostSince = since
                    guard ContinuousClock.now - since < .seconds(60) else {
                        throw CLIError("lost the order service at \(api.baseURL) for a minute: \(error)")
                    }
                    FileHandle.standardError.write(Data("connection lost (\(error)); resuming\n".utf8))
                }
                // The stream closed without `end` (the service is shutting down), or broke: ask again.
                try await Task.sleep(for: .seconds(1))
            }
        }

        struct Status: Decodable { var status: String; var version: Int }

        var palette: Palette { .standardOutput }

        /// Prints one event; returns the final status on `end`.
        func show(_ event: ServerSentEvents.Event) throws -> String? {
            if api.json {
                print(#"{"event":"\#(event.name)","id":\#(event.id.map { "\"\($0)\"" } ?? "null"),"data":\#(event.data)}"#)
            }
            let data = Data(event.data.utf8)
            switch event.name {
            case "timeline":
                if !api.json { print(SagaStatusFormatter.line(try JSONDecoder().decode(SagaView.Entry.self, from: data), palette: palette)) }
            case "status":
                if !api.json { print("status   \(palette.word(try JSONDecoder().decode(Status.self, from: data).status))") }
            case "end":
                let status = try JSONDecoder().decode(Status.self, from: data).status
                if !api.json { print("ended    \(palette.word(status))") }
                return status
            default:
                break
            }
            return nil
        }
    }
}
