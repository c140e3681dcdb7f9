import CheckoutContracts
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
@testable import OrderService
import Testing
import TestSupport

/// JWT bearer tokens, when a key for them is configured: a valid token is a credential whose
/// subject owns what it places and whose `scope` claim gives its scopes; any fault in one answers
/// the same 401 as a bad API key.
@Suite struct TokenTests {
    static let secret = "a-shared-secret-of-at-least-32-characters"

    struct Claims: JWTPayload {
        var sub: SubjectClaim?
        var exp: ExpirationClaim
        var aud: AudienceClaim?
        var scope: String?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func token(
        sub: String? = "cust-ada", scope: String? = "checkout", expiresIn: TimeInterval = 300, aud: String? = nil,
        secret: String = secret
    ) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(Claims(
            sub: sub.map { SubjectClaim(value: $0) }, exp: .init(value: Date().addingTimeInterval(expiresIn)),
            aud: aud.map { AudienceClaim(value: [$0]) }, scope: scope))
    }

    func status(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String) async throws -> HTTPResponse.Status {
        try await client.execute(
            uri: uri, method: method, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
            body: method == .post ? ByteBuffer(string: Harness.checkout()) : nil
        ) { $0.status }
    }

    @Test func aValidTokenIsACredentialAndAnyFaultIs401() async throws {
        let tokens = try #require(try await TokenVerifier.make(secret: Self.secret, publicKeyFile: "", audience: "ordersaga"))
        let harness = try Harness(tokens: tokens)
        try await harness.app.test(.router) { client in
            let ada = try await Self.token(aud: "ordersaga")
            let (placed, body) = try await client.execute(
                uri: "/api/v1/checkout", method: .post, headers: [.authorization: "Bearer \(ada)", .contentType: "application/json"],
                body: ByteBuffer(string: Harness.checkout())
            ) { ($0.status, String(buffer: $0.body)) }
            #expect(placed == .accepted, "\(body)")
            let orderID = try JSONDecoder().decode(Accepted.self, from: Data(body.utf8)).orderId
            // The subject owns the order, whichever token it shows; another subject does not see it.
            let again = try await Self.token(scope: "openid checkout", aud: "ordersaga")
            #expect(try await status(client, .get, "/api/v1/orders/\(orderID)", token: again) == .ok)
            let grace = try await Self.token(sub: "cust-grace", aud: "ordersaga")
            #expect(try await status(client, .get, "/api/v1/orders/\(orderID)", token: grace) == .notFound)
            #expect(try await status(client, .get, "/api/v1/sagas", token: ada) == .forbidden)
            let admin = try await Self.token(sub: "ops", scope: "admin", aud: "ordersaga")
            #expect(try await status(client, .get, "/api/v1/sagas", token: admin) == .ok)
            #expect(try await status(client, .get, "/api/v1/orders/\(orderID)", token: admin) == .ok)
            let unscoped = try await Self.token(scope: nil, aud: "ordersaga")
            #expect(try await status(client, .get, "/api/v1/orders/\(orderID)", token: unscoped) == .forbidden)

            let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64URLEncodedString()
            let payload = Data(#"{"sub":"cust-ada","exp":4102444800,"aud":"ordersaga","scope":"admin"}"#.utf8).base64URLEncodedString()
            let faults = [
                ("expired", try await Self.token(expiresIn: -60, aud: "ordersaga")),
                ("another secret", try await Self.token(aud: "ordersaga", secret: "another-secret-of-at-least-32-characters")),
                ("no audience", try await Self.token()),
                ("another audience", try await Self.token(aud: "someone-else")),
                ("no subject", try await Self.token(sub: nil, aud: "ordersaga")),
                ("alg none", "\(header).\(payload)."),
                ("garbage", "not.a.token"),
            ]
            for (fault, token) in faults {
                #expect(try await status(client, .get, "/api/v1/orders/\(orderID)", token: token) == .unauthorized, "\(fault)")
            }
        }
        // Without a configured key, a token is as unknown as any other credential.
        let plain = try Harness()
        let token = try await Self.token()
        try await plain.app.test(.router) { client in
            let answer = try await status(client, .get, "/api/v1/orders/\(UUID())", token: token)
            #expect(answer == .unauthorized)
        }
    }

    @Test func anES256PublicKeyFileVerifiesTokensItsPrivateKeySigned() async throws {
        let privateKey = ES256PrivateKey()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ordersaga-jwt-\(UUID().uuidString).pem")
        try privateKey.publicKey.pemRepresentation.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let tokens = try #require(try await TokenVerifier.make(secret: "", publicKeyFile: file.path, audience: ""))
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: privateKey)
        let good = try await signer.sign(Claims(sub: .init(value: "ops"), exp: .init(value: Date().addingTimeInterval(60)), scope: "admin"))
        #expect(await tokens.caller(good) == Caller(principal: "jwt:ops", scopes: [.admin], rateLimit: nil))
        let other = JWTKeyCollection()
        await other.add(ecdsa: ES256PrivateKey())
        let forged = try await other.sign(Claims(sub: .init(value: "ops"), exp: .init(value: Date().addingTimeInterval(60)), scope: "admin"))
        #expect(await tokens.caller(forged) == nil)
        // An HS256 token made with the public key's text as the secret (the algorithm confusion attack).
        #expect(await tokens.caller(try await Self.token(scope: "admin", secret: privateKey.publicKey.pemRepresentation)) == nil)
    }

    @Test func aKeySettingThatCannotWorkStopsTheService() async throws {
        #expect(try await TokenVerifier.make(secret: "", publicKeyFile: "", audience: "") == nil)
        let cases: [(String, String, String)] = [
            ("short", "", "at least 32 characters"),
            (Self.secret, "/etc/hostname", "both set"),
            ("", "/nonexistent/key.pem", "cannot read /nonexistent/key.pem"),
            ("", "/etc/hostname", "is not a PEM public key"),
        ]
        for (secret, file, words) in cases {
            let error = await #expect(throws: TokenVerifier.ConfigurationError.self) {
                try await TokenVerifier.make(secret: secret, publicKeyFile: file, audience: "")
            }
            #expect(error?.description.contains(words) == true, "\(String(describing: error))")
        }
    }
}

extension Data {
    fileprivate func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
