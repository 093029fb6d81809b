import Crypto
import Foundation
import SpoolScheduler
import SpoolWebhooks

/// The tenants a host serves (`--tokens FILE`): who they are, their role, their limits, and
/// the SHA-256 of each of their tokens (a token itself is never stored). JSON:
///
/// ```json
/// {"tenants": [
///   {"name": "ana", "role": "user", "tokens": ["sha256:…"], "weight": 2,
///    "limits": {"maxQueued": 20, "maxRunning": 2, "gpuSecondsPerDay": 1500, "maxGpuSecondsPerJob": 300}},
///   {"name": "ops", "role": "admin", "tokens": ["sha256:…"]}
/// ]}
/// ```
public struct TenantsFile: Codable, Sendable, Hashable {
    public enum Role: String, Codable, Sendable, Hashable, CaseIterable {
        /// Sees and acts on every job, reads `/metrics`.
        case admin
        /// Only its own jobs; another tenant's do not exist for it.
        case user
    }

    public struct Tenant: Codable, Sendable, Hashable {
        public var name: String
        public var role: Role
        /// `sha256:` and the hex digest of each token.
        public var tokens: [String]
        public var limits: TenantLimits?
        /// Its share under fair share, against the others' (1 when not given).
        public var weight: Double?
        /// The secret its jobs' webhooks are signed with (`whsec_…`), in place of the host's;
        /// kept as given, since signing needs it (the file is its owner's alone).
        public var webhookSecret: String?

        public init(
            name: String, role: Role, tokens: [String] = [], limits: TenantLimits? = nil, weight: Double? = nil, webhookSecret: String? = nil
        ) {
            self.weight = weight
            self.webhookSecret = webhookSecret
            self.name = name
            self.role = role
            self.tokens = tokens
            self.limits = limits
        }

        public var principal: Principal {
            Principal(tenant: name, seesEveryone: role == .admin, limits: limits ?? TenantLimits())
        }
    }

    public var tenants: [Tenant]

    public init(tenants: [Tenant] = []) {
        self.tenants = tenants
    }

    /// Reads and checks `path`.
    /// - Throws: ``TenantsFileError`` naming the file and what is wrong in it.
    public static func load(_ path: String) throws -> TenantsFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TenantsFileError("cannot read the tokens file \(path): \(error.localizedDescription)")
        }
        let file: TenantsFile
        do {
            file = try JSONDecoder().decode(TenantsFile.self, from: data)
        } catch {
            throw TenantsFileError("the tokens file \(path) is not a tenants file: \(error)")
        }
        if let problem = file.problem { throw TenantsFileError("the tokens file \(path): \(problem)") }
        return file
    }

    /// What makes the file unusable, if anything.
    public var problem: String? {
        var names: Set<String> = []
        var hashes: Set<String> = []
        for tenant in tenants {
            if let problem = Self.nameProblem(tenant.name) { return "tenant \"\(tenant.name)\": \(problem)" }
            guard names.insert(tenant.name).inserted else { return "tenant \(tenant.name) is named twice" }
            for token in tenant.tokens {
                guard token.hasPrefix("sha256:"), token.count == 71, token.dropFirst(7).allSatisfy(\.isHexDigit) else {
                    return "tenant \(tenant.name) has a token entry that is not sha256: and 64 hex digits (spool tokens add writes them)"
                }
                guard hashes.insert(token.lowercased()).inserted else { return "a token of tenant \(tenant.name) belongs to another tenant too" }
            }
            if let weight = tenant.weight, !(weight > 0) { return "tenant \(tenant.name): weight must be more than 0" }
            if let secret = tenant.webhookSecret {
                do {
                    _ = try WebhookSecret(parsing: secret)
                } catch {
                    return "tenant \(tenant.name): webhookSecret: \(error.description)"
                }
            }
            if let limits = tenant.limits {
                if let queued = limits.maxQueued, queued < 0 { return "tenant \(tenant.name): maxQueued must be 0 or more" }
                if let seconds = limits.maxGpuSecondsPerJob, !(seconds > 0) { return "tenant \(tenant.name): maxGpuSecondsPerJob must be more than 0" }
                if let running = limits.maxRunning, running < 0 { return "tenant \(tenant.name): maxRunning must be 0 or more" }
                if let seconds = limits.gpuSecondsPerDay, !(seconds >= 0) { return "tenant \(tenant.name): gpuSecondsPerDay must be 0 or more" }
            }
        }
        return nil
    }

    /// A tenant's name: 1…64 of `a-z`, `0-9`, `.`, `_` and `-`, as it appears in job records,
    /// metrics labels and logs.
    public static func nameProblem(_ name: String) -> String? {
        guard (1...64).contains(name.count) else { return "a name is 1…64 characters" }
        let allowed = name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }
        return allowed ? nil : "a name takes only a-z, 0-9, \".\", \"_\" and \"-\""
    }

    /// Writes the file whole, readable by its owner alone, replacing the old one atomically.
    public func save(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let temporary = "\(path).\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: try encoder.encode(self) + Data("\n".utf8), attributes: [.posixPermissions: 0o600])
        else { throw TenantsFileError("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TenantsFileError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// How a token is stored: `sha256:` and its hex digest.
    public static func hash(_ token: String) -> String {
        "sha256:" + SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A new token: `spool_` and 32 random bytes in hex.
    public static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return "spool_" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

public struct TenantsFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
