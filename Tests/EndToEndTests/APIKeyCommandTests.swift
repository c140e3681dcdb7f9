import Foundation
import JWTKit
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OrderService
import Postgres
import Provisioning
import Testing
import TestSupport

/// `ordersaga api-key create|list|revoke`, the shipped binary, against the real order database
/// and the order service running as its own process: a key it makes works, the list never shows
/// a key, and a revoked key stops working within the cache's 5 seconds.
@Suite struct APIKeyCommandTests {
    func ordersaga(_ system: TestSystem, _ arguments: [String]) async throws -> (Int32, String) {
        try await Process.output(of: TestSystem.binary, ["api-key"] + arguments + ["--postgres-url", system.url("order")])
    }

    func status(_ port: Int, _ path: String, key: String) async throws -> Int {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.fetch(request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    @Test(.timeLimit(.minutes(2)))
    func aKeyMadeByTheCommandWorksUntilRevoked() async throws {
        try await TestSystem.with { system in
            let port = Int.random(in: 20_000..<30_000)
            // Logging everything it can, to a file this test reads at the end: no key may be in it.
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("ordersaga-keys-\(UUID().uuidString).log")
            defer { try? FileManager.default.removeItem(at: log) }
            let service = try system.launch(
                ["order-service", "--port", String(port), "--sagas", TestSystem.repositoryRoot.appendingPathComponent("sagas").path], as: "order",
                logLevel: "trace", log: log)
            defer { if service.isRunning { service.terminate() } }
            #expect(await TestSystem.becomesReady(port: port))

            let (created, output) = try await ordersaga(system, ["create", "--name", "ops team", "--scope", "admin", "--rate-limit", "0"])
            #expect(created == 0, "\(output)")
            let key = try #require(output.split(separator: "\n").map(String.init).first { $0.hasPrefix("osk_") })
            let id = try #require(APIKey(key)?.id)
            #expect(output.contains("Created key \(id) \"ops team\": scopes admin, no rate limit"))
            // Only the hash is stored.
            let stored = try await system.pool("order").query("SELECT hash FROM api_keys WHERE id = $1", [id]).first?.string("hash")
            #expect(stored == APIKey(key)?.hash)

            #expect(try await status(port, "/api/v1/sagas", key: key) == 200)
            #expect(try await status(port, "/api/v1/sagas", key: system.adminKey) == 200)
            #expect(try await status(port, "/api/v1/credential", key: key) == 200)

            let (listed, list) = try await ordersaga(system, ["list"])
            #expect(listed == 0)
            #expect(list.hasPrefix("ID"))
            #expect(list.contains(id) && list.contains("ops team") && list.contains("admin") && list.contains("none"))
            #expect(!list.contains(key) && !list.contains(stored ?? "-"))
            let (_, json) = try await ordersaga(system, ["list", "--json"])
            let records = try JSONDecoder().decode([APIKeyRecord].self, from: Data(json.utf8))
            #expect(records.map(\.name).sorted() == ["ops team", "test-admin"])
            // Each shows when a request last showed it: the new key was used, just now.
            #expect(records.first { $0.id == id }?.lastUsedAt?.hasPrefix(String(ISO8601DateFormatter().string(from: Date()).prefix(10))) == true, "\(records)")
            #expect(list.contains("LAST USED"))

            let (revoked, revokeOutput) = try await ordersaga(system, ["revoke", id])
            #expect(revoked == 0 && revokeOutput.contains("revoked key \(id)"), "\(revokeOutput)")
            #expect(await eventually(timeout: .seconds(15), interval: .milliseconds(250)) {
                (try? await status(port, "/api/v1/sagas", key: key)) == 401
            })
            #expect(try await status(port, "/api/v1/sagas", key: system.adminKey) == 200)
            #expect(try await ordersaga(system, ["list"]).1.contains(id) == false)
            #expect(try await ordersaga(system, ["list", "--all"]).1.contains(id))

            // Bad input is refused before anything is written.
            let (badScope, scopeOutput) = try await ordersaga(system, ["create", "--name", "x", "--scope", "owner"])
            #expect(badScope == 64 && scopeOutput.contains("--scope owner: expected checkout or admin"), "\(scopeOutput)")
            let (unknown, unknownOutput) = try await ordersaga(system, ["revoke", "000000000000"])
            #expect(unknown != 0 && unknownOutput.contains("no key 000000000000"), "\(unknownOutput)")
            #expect(try await system.pool("order").query("SELECT count(*) AS n FROM api_keys").first?.int("n") == 2)
            await service.stop()
            let logged = try String(contentsOf: log, encoding: .utf8)
            #expect(logged.contains("/api/v1/sagas"), "the service logged no request at trace level: \(logged.suffix(2000))")
            for secret in [key, system.adminKey, String(key.suffix(64))] { #expect(!logged.contains(secret)) }
        }
    }

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var scope: String
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// `auth.jwtSecret` on the shipped binary: a token signed with it is a credential; a secret
    /// too short to be safe stops the service before it serves anything, naming the setting.
    @Test(.timeLimit(.minutes(2)))
    func aJWTSecretMakesSignedTokensCredentialsAndAShortOneStopsTheService() async throws {
        try await TestSystem.with { system in
            let port = Int.random(in: 20_000..<30_000)
            let sagas = TestSystem.repositoryRoot.appendingPathComponent("sagas").path
            let (refused, output) = try await Process.output(
                of: TestSystem.binary,
                ["order-service", "--port", String(port), "--sagas", sagas, "--postgres-url", system.url("order"),
                 "--amqp-url", system.amqpURL(of: "order"), "--set", "auth.jwtSecret=too-short"])
            #expect(refused != 0)
            #expect(output.contains("auth.jwtSecret must be at least 32 characters"), "\(output)")

            let secret = "a-shared-secret-of-at-least-32-characters"
            let service = try system.launch(
                ["order-service", "--port", String(port), "--sagas", sagas], as: "order", environment: ["ORDERSAGA_AUTH_JWT_SECRET": secret])
            defer { if service.isRunning { service.terminate() } }
            #expect(await TestSystem.becomesReady(port: port))
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            let token = try await keys.sign(Claims(sub: .init(value: "ops"), exp: .init(value: Date().addingTimeInterval(60)), scope: "admin"))
            #expect(try await status(port, "/api/v1/sagas", key: token) == 200)
            #expect(try await status(port, "/api/v1/sagas", key: String(token.dropLast(2))) == 401)
            await service.stop()
        }
    }
}
