import Crypto
import Foundation

/// The key every webhook is signed with, in the Standard Webhooks form `whsec_<base64>`.
public struct WebhookSecret: Sendable, Hashable, CustomStringConvertible {
    /// The text as kept in the file and given to receivers: `whsec_` and the key in base64.
    public let text: String
    /// The key the signature's HMAC uses: the base64 part, decoded.
    public let key: Data

    public static let prefix = "whsec_"

    public init(parsing text: String) throws(WebhookSecretError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix(Self.prefix), let key = Data(base64Encoded: String(trimmed.dropFirst(Self.prefix.count))),
              (24...64).contains(key.count)
        else { throw WebhookSecretError("a webhook secret is whsec_ followed by 24 to 64 bytes in base64") }
        self.text = trimmed
        self.key = key
    }

    /// A new secret of 32 random bytes.
    public static func generate() -> WebhookSecret {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return try! WebhookSecret(parsing: prefix + bytes.base64EncodedString())
    }

    /// The secret in `path`; when `create` is set and there is no file, a new secret is
    /// written there first, readable by its owner only.
    public static func load(path: String, create: Bool) throws(WebhookSecretError) -> WebhookSecret {
        if create && !FileManager.default.fileExists(atPath: path) {
            let secret = generate()
            let created = FileManager.default.createFile(
                atPath: path, contents: Data((secret.text + "\n").utf8), attributes: [.posixPermissions: 0o600])
            guard created else { throw WebhookSecretError("cannot write a new webhook secret to \(path)") }
            return secret
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw WebhookSecretError("cannot read the webhook secret file \(path): \(error.localizedDescription)")
        }
        do {
            return try WebhookSecret(parsing: text)
        } catch {
            throw WebhookSecretError("the webhook secret file \(path): \(error.description)")
        }
    }

    public var description: String { "whsec_…" }

    /// The `webhook-signature` header for a message: `v1,` and the base64 HMAC-SHA256 of
    /// `id.timestamp.body`.
    public func signature(id: String, timestamp: Int, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }
}

public struct WebhookSecretError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
