import CheckoutContracts
import Foundation
import Hummingbird
import SagaCore
import ServiceLifecycle

/// `GET /api/v1/sagas/{id}/events`: a saga's timeline as server-sent events, live until the saga
/// ends (what `saga-status watch` shows).
///
/// ```
/// id: 3
/// event: timeline
/// data: {"at":"…","event":"step_succeeded","step":"reserve-inventory","attempt":1}
///
/// event: status
/// data: {"status":"COMPENSATING","version":7}
///
/// event: end
/// data: {"status":"COMPENSATED","version":12}
/// ```
///
/// Each timeline line's `id` is its place in the timeline, so a client that lost the connection
/// asks again with `Last-Event-ID` and misses nothing. The stream reads the saga every
/// `interval`; a comment line every 15 s keeps proxies from closing a quiet one. A saga that ends
/// FAILED ends the stream too (an operator's action starts it again: watch again). On shutdown the
/// stream closes without `end`, and the client reconnects to another instance.
struct SagaEventStream: Sendable {
    let store: any SagaStore
    let interval: Duration

    static let keepAlive: Duration = .seconds(15)

    func response(for id: UUID, first: SagaView, after lastEventID: Int?) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { [store, interval] writer in
            var view = first
            var sent = (lastEventID ?? -1) + 1
            var status: String? = nil
            var quietSince = ContinuousClock.now
            while true {
                var chunk = ""
                for (index, entry) in view.timeline.enumerated() where index >= sent {
                    chunk += Self.event("timeline", id: index, data: entry)
                }
                sent = max(sent, view.timeline.count)
                if status != view.status {
                    status = view.status
                    chunk += Self.event(Self.isFinal(view) ? "end" : "status", data: Status(status: view.status, version: view.version))
                }
                if !chunk.isEmpty {
                    try await writer.write(ByteBuffer(string: chunk))
                    quietSince = .now
                } else if ContinuousClock.now - quietSince >= Self.keepAlive {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    quietSince = .now
                }
                if Self.isFinal(view) || Task.isShuttingDownGracefully || Task.isCancelled { break }
                try? await Task.sleep(for: interval)
                // A database blip does not end the stream: the next read catches up.
                if let next = try? await store.saga(id) { view = next }
            }
            try await writer.finish(nil)
        })
    }

    struct Status: Encodable {
        let status: String
        let version: Int
    }

    static func isFinal(_ view: SagaView) -> Bool {
        SagaStatus(rawValue: view.status)?.isFinal == true
    }

    /// One event: `id:` (if any), `event:`, and the data as one line of JSON.
    static func event(_ name: String, id: Int? = nil, data: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(data)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return (id.map { "id: \($0)\n" } ?? "") + "event: \(name)\ndata: \(json)\n\n"
    }
}
