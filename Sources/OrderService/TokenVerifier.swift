import CheckoutContracts
import Foundation
import HTTPEdge
import JWTKit

/// Checks JWT bearer tokens against the configured key (`auth.jwtSecret` for HS256, or
/// `auth.jwtPublicKey`, a PEM file of an EC P-256 key for ES256 or an RSA key for RS256). A token
/// must be signed by that key with that algorithm, carry `sub` (who is calling: orders it places
/// are `jwt:<sub>`'s) and `exp`, and, when `auth.jwtAudience` is set, name it in `aud`. Its
/// `scope` claim (space-separated, as OAuth writes it) gives its scopes; others are ignored.
struct TokenVerifier: Sendable {
    private let keys: JWTKeyCollection
    private let audience: String?

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var aud: AudienceClaim?
        var scope: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            try nbf?.verifyNotBefore()
        }
    }

    /// What a key setting is wrong about; the service does not start with it.
    struct ConfigurationError: Error, CustomStringConvertible {
        let description: String
    }

    /// The verifier the settings ask for, or `nil` when neither key is set (JWTs are then refused
    /// as any unknown credential is).
    static func make(secret: String, publicKeyFile: String, audience: String) async throws -> TokenVerifier? {
        let keys = JWTKeyCollection()
        switch (secret.isEmpty, publicKeyFile.isEmpty) {
        case (true, true):
            return nil
        case (false, false):
            throw ConfigurationError(description: "auth.jwtSecret and auth.jwtPublicKey are both set: give one")
        case (false, true):
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError(description: "auth.jwtSecret must be at least 32 characters (256 bits for HS256)")
            }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        case (true, false):
            let pem: String
            do {
                pem = try String(contentsOfFile: publicKeyFile, encoding: .utf8)
            } catch {
                throw ConfigurationError(description: "auth.jwtPublicKey: cannot read \(publicKeyFile): \(error.localizedDescription)")
            }
            if let key = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: key)
            } else if let key = try? Insecure.RSA.PublicKey(pem: pem) {
                await keys.add(rsa: key, digestAlgorithm: .sha256)
            } else {
                throw ConfigurationError(
                    description: "auth.jwtPublicKey: \(publicKeyFile) is not a PEM public key of EC P-256 (ES256) or RSA (RS256)")
            }
        }
        return TokenVerifier(keys: keys, audience: audience.isEmpty ? nil : audience)
    }

    /// Who the token says is calling, if it is valid; `nil` for any fault.
    func caller(_ token: String) async -> Caller? {
        guard token.utf8.count <= 8192, let claims = try? await keys.verify(token, as: Claims.self) else { return nil }
        if let audience {
            guard let aud = claims.aud, (try? aud.verifyIntendedAudience(includes: audience)) != nil else { return nil }
        }
        let subject = claims.sub.value
        guard (1...200).contains(subject.count) else { return nil }
        let scopes = Set((claims.scope ?? "").split(separator: " ").compactMap { Scope(rawValue: String($0)) })
        return Caller(principal: "jwt:\(subject)", scopes: scopes, rateLimit: nil)
    }
}
