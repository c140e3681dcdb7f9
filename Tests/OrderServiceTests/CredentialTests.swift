import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import OrderService
import Testing
import TestSupport

/// Every API call but the probes and the scrape needs a credential with the right scope; the
/// answer never says which part of a bad one was wrong; each credential has its own orders,
/// Idempotency-Keys and rate limit.
@Suite struct CredentialTests {
    /// Each documented operation, with an id that exists where it needs one.
    static func calls(saga: String, order: String) throws -> [(HTTPRequest.Method, String)] {
        try ContractTests.documentedOperations().sorted().map { operation in
            let parts = operation.split(separator: " ", maxSplits: 1)
            let path = parts[1].replacingOccurrences(of: "{id}", with: parts[1].contains("orders") ? order : saga)
            return (HTTPRequest.Method(rawValue: String(parts[0]))!, path)
        }
    }

    @Test func withoutAValidKeyEveryAPICallIs401AndTheProbesAreOpen() async throws {
        let harness = try Harness()
        let revoked = harness.addKey([.checkout, .admin])
        harness.revoke(revoked)
        let wrongSecret = String(harness.adminKey.dropLast(4)) + "0000"
        try await harness.app.test(.router) { client in
            let accepted = try JSONDecoder().decode(Accepted.self, from: Data(try await Harness.post(client, key: harness.adminKey).1.utf8))
            let bad: [String?] = [nil, "Bearer", "Basic YWRtaW46YWRtaW4=", "Bearer nonsense", "Bearer \(wrongSecret)", "Bearer \(revoked)"]
            for (method, path) in try Self.calls(saga: accepted.sagaId, order: accepted.orderId) {
                let open = ["/health", "/ready", "/metrics"].contains(path)
                var bodies: Set<String> = []
                for authorization in bad {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let authorization { headers[.authorization] = authorization }
                    try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(string: "{}")) { response in
                        if open {
                            #expect(response.status == .ok, "\(path)")
                        } else {
                            #expect(response.status == .unauthorized, "\(method) \(path) with \(authorization ?? "nothing")")
                            #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="ordersaga""#)
                            #expect(response.headers[.contentType] == "application/problem+json")
                            bodies.insert(String(buffer: response.body))
                        }
                    }
                }
                // The same words whatever was wrong, and never the credential itself.
                #expect(open || bodies.count == 1, "\(path): \(bodies)")
                #expect(!bodies.contains { $0.contains(wrongSecret) || $0.contains(revoked) })
            }
            // Nothing a refused call asked for happened: the one saga is still the only one.
            #expect(try await harness.store.sagas(SagaQuery()).sagas.count == 1)
        }
    }

    @Test func aCheckoutKeyPlacesAndReadsItsOwnOrdersOnlyAndTouchesNoSaga() async throws {
        let harness = try Harness()
        let ada = harness.addKey([.checkout])
        let bob = harness.addKey([.checkout])
        let reader = harness.addKey([.admin])
        try await harness.app.test(.router) { client in
            let (status, body) = try await Harness.post(client, key: ada)
            #expect(status == .accepted, "\(body)")
            let accepted = try JSONDecoder().decode(Accepted.self, from: Data(body.utf8))
            let order = "/api/v1/orders/\(accepted.orderId)"
            for (key, expected) in [(ada, HTTPResponse.Status.ok), (bob, .notFound), (reader, .ok)] {
                try await client.execute(uri: order, method: .get, headers: [.authorization: "Bearer \(key)"]) { response in
                    #expect(response.status == expected, "\(String(buffer: response.body))")
                }
            }
            // Another's order reads exactly as a missing one does.
            let another = try await client.execute(uri: order, method: .get, headers: [.authorization: "Bearer \(bob)"]) { String(buffer: $0.body) }
            #expect(another.contains("no order \(accepted.orderId)"))

            for (method, path) in try Self.calls(saga: accepted.sagaId, order: accepted.orderId)
            where path.hasPrefix("/api/v1/sagas") {
                try await client.execute(
                    uri: path, method: method, headers: [.authorization: "Bearer \(ada)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"operator":"ada","reason":"why not"}"#)
                ) { response in
                    #expect(response.status == .forbidden, "\(method) \(path)")
                    #expect(String(buffer: response.body).contains("admin"))
                }
            }
            // An admin key without the checkout scope reads everything but places nothing.
            #expect(try await Harness.post(client, key: reader, cart: "cart-ada-2").0 == .forbidden)
            #expect(try await harness.store.sagas(SagaQuery()).sagas.count == 1)
            #expect(try await harness.store.saga(UUID(uuidString: accepted.sagaId)!)?.timeline.contains { $0.event.hasPrefix("operator") } == false)
        }
    }

    /// An Idempotency-Key is its credential's own: the same key from two clients makes two orders.
    @Test func idempotencyKeysAreEachCredentialsOwn() async throws {
        let harness = try Harness()
        let ada = harness.addKey([.checkout])
        let bob = harness.addKey([.checkout])
        try await harness.app.test(.router) { client in
            let first = try await Harness.post(client, key: ada, idempotencyKey: "order-1")
            let again = try await Harness.post(client, key: ada, idempotencyKey: "order-1")
            let other = try await Harness.post(client, key: bob, idempotencyKey: "order-1")
            #expect([first.0, again.0, other.0] == [.accepted, .accepted, .accepted])
            let ids = try [first, again, other].map { try JSONDecoder().decode(Accepted.self, from: Data($0.1.utf8)).orderId }
            #expect(ids[0] == ids[1])
            #expect(ids[0] != ids[2])
        }
    }

    /// A retry while the first request with its Idempotency-Key is still waiting (`Prefer: wait`)
    /// answers 409 and changes nothing; once the first has answered, the retry replays it.
    @Test func aKeyInUseByARequestInProgressAnswers409() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let headers: HTTPFields = [
                .contentType: "application/json", HTTPField.Name("Idempotency-Key")!: "slow-1", HTTPField.Name("Prefer")!: "wait=2",
            ]
            let first = Task {
                try await client.execute(uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: Harness.checkout())) {
                    $0.status
                }
            }
            #expect(await eventually(timeout: .seconds(10), interval: .milliseconds(20)) { (try? await harness.store.sagas(SagaQuery()).sagas.count) == 1 })
            try await client.execute(uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: Harness.checkout())) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("Idempotency-Key"))
            }
            #expect(try await first.value == .accepted)  // the saga did not end in 2 s: nobody answered its command
            #expect(try await Harness.post(client, key: harness.adminKey, idempotencyKey: "slow-1").0 == .accepted)
            #expect(try await harness.store.sagas(SagaQuery()).sagas.count == 1)
        }
    }

    /// Past its rate limit a credential gets 429 with Retry-After, and nothing is done; other
    /// credentials are not slowed; a key's own limit wins over the service's.
    @Test func pastItsRateLimitACredentialGets429WithRetryAfter() async throws {
        let harness = try Harness(rateLimit: 2)
        let limited = harness.addKey([.checkout])
        let unlimited = harness.addKey([.checkout], rateLimit: 0)
        try await harness.app.test(.router) { client in
            let started = ContinuousClock.now
            var accepted = 0
            var refused: (retryAfter: String?, body: String)?
            for index in 1...10 {
                var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(limited)"]
                headers[HTTPField.Name("Idempotency-Key")!] = "rate-\(index)"
                try await client.execute(uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: Harness.checkout())) { response in
                    if response.status == .accepted { accepted += 1 }
                    if response.status == .tooManyRequests { refused = (response.headers[.retryAfter], String(buffer: response.body)) }
                }
            }
            // A burst of 2, then 2 a second: however slow this machine, never more.
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            #expect(accepted >= 2 && Double(accepted) <= 2 + 2 * seconds.rounded(.up), "\(accepted) in \(seconds) s")
            #expect(refused?.retryAfter == "1")
            #expect(refused?.body.contains("2 requests a second") == true)
            for index in 1...10 { #expect(try await Harness.post(client, key: unlimited, cart: "cart-bob-\(index)").0 == .accepted) }
            #expect(try await harness.store.sagas(SagaQuery()).sagas.count == accepted + 10)
        }
    }

    /// The bucket itself, on a clock the test moves.
    @Test func aBucketHoldsOneSecondsWorthAndRefillsAtTheRate() {
        let limiter = RateLimiter()
        let start = ContinuousClock.now
        #expect((0..<4).map { _ in limiter.take("a", perSecond: 4, now: start) } == [nil, nil, nil, nil])
        #expect(limiter.take("a", perSecond: 4, now: start) == 1)
        #expect(limiter.take("b", perSecond: 4, now: start) == nil)  // each caller its own bucket
        #expect(limiter.take("a", perSecond: 4, now: start + .milliseconds(250)) == nil)
        #expect(limiter.take("a", perSecond: 4, now: start + .milliseconds(250)) == 1)
        #expect(limiter.take("slow", perSecond: 1, now: start) == nil)
        #expect(limiter.take("slow", perSecond: 1, now: start + .milliseconds(100)) == 1)
        // A long pause refills no more than one second's worth.
        let later = start + .seconds(60)
        #expect((0..<5).compactMap { _ in limiter.take("a", perSecond: 4, now: later) } == [1])
    }

    /// Dropping full buckets when there are many callers keeps a part-used bucket of a caller with
    /// a higher limit than the one asking: it is not a fresh burst.
    @Test func pruningKeepsEveryPartUsedBucket() {
        let limiter = RateLimiter(pruneAbove: 1)
        let now = ContinuousClock.now
        for _ in 0..<50 { #expect(limiter.take("busy", perSecond: 100, now: now) == nil) }
        #expect(limiter.take("small", perSecond: 2, now: now) == nil)  // two callers: prunes
        #expect((0..<60).compactMap { _ in limiter.take("busy", perSecond: 100, now: now) }.count == 10)
    }

    @Test func aKeyHasOneShapeAndOnlyItsHashIsKept() {
        let key = APIKey.generate()
        #expect(key.text.hasPrefix("osk_\(key.id)_"))
        #expect(APIKey(key.text) == key)
        #expect(key.hash.count == 64 && key.hash != key.text && !key.hash.contains(key.id))
        #expect(APIKey.generate() != key)
        for bad in ["", "osk_", "osk_\(key.id)", key.text.uppercased(), key.text + "0", "sk_" + key.text.dropFirst(4), key.text.replacingOccurrences(of: "_", with: "-")] {
            #expect(APIKey(bad) == nil, "\(bad)")
        }
        #expect(Caller.bearerToken("bearer  abc") == "abc")
        #expect(Caller.bearerToken("Basic abc") == nil)
        #expect(Scope.parse("checkout,admin") == [.checkout, .admin])
        #expect(Scope.parse("checkout owner") == nil)
    }
}

extension CredentialTests {
    /// `GET /api/v1/credential`: any valid credential learns who it is, its scopes and its limit.
    @Test func aCredentialCanAskWhatItIs() async throws {
        let tokens = try await TokenVerifier.make(secret: TokenTests.secret, publicKeyFile: "", audience: "")
        let harness = try Harness(rateLimit: 50, tokens: tokens)
        let shop = harness.addKey([.checkout])
        let token = try await TokenTests.token(sub: "cust-ada", scope: "openid")
        try await harness.app.test(.router) { client in
            func ask(_ credential: String) async throws -> (HTTPResponse.Status, CredentialView?) {
                try await client.execute(uri: "/api/v1/credential", method: .get, headers: [.authorization: "Bearer \(credential)"]) {
                    ($0.status, try? JSONDecoder().decode(CredentialView.self, from: Data($0.body.readableBytesView)))
                }
            }
            let admin = try await ask(harness.adminKey)
            #expect(admin.0 == .ok)
            #expect(admin.1 == .init(principal: "key:\(APIKey(harness.adminKey)!.id)", kind: "apiKey", scopes: ["admin", "checkout"], rateLimit: 0))
            #expect(try await ask(shop).1 == .init(principal: "key:\(APIKey(shop)!.id)", kind: "apiKey", scopes: ["checkout"], rateLimit: 50))
            // A valid token without a scope of ours may still ask what it is.
            #expect(try await ask(token).1 == .init(principal: "jwt:cust-ada", kind: "jwt", scopes: [], rateLimit: 50))
            #expect(try await ask("osk_nonsense").0 == .unauthorized)
        }
    }
}
