import Foundation
import SpoolScheduler
import SpoolWebhooks
import Synchronization

/// The tenants file as the server uses it: each stored token hash to its tenant's principal.
/// Read again on SIGHUP (``reload()``): from then on a removed token is refused (401) on its
/// next request, and a changed limit applies to the next submission. A job already running
/// is not touched.
public final class TenantDirectory: Sendable {
    public let path: String
    /// Each token hash, and each tenant's name, to the tenant's principal.
    private let index: Mutex<(byHash: [String: Principal], byName: [String: Principal])>
    /// Told each tenant's weight and limits at start and at each reload (the claim's policy).
    private let onPolicies: Mutex<(@Sendable ([String: ClaimPolicy.Tenant]) -> Void)?> = Mutex(nil)
    private let policies: Mutex<[String: ClaimPolicy.Tenant]>
    private let webhookSecrets: Mutex<[String: WebhookSecret]>

    /// - Throws: ``TenantsFileError`` for a file that cannot be used.
    public init(path: String) throws {
        self.path = path
        let file = try TenantsFile.load(path)
        index = Mutex(Self.index(file))
        policies = Mutex(Self.policies(file))
        webhookSecrets = Mutex(Self.webhookSecrets(file))
    }

    /// Reads the file again; a file that cannot be used leaves the tenants as they were.
    /// - Returns: how many tenants it now serves.
    @discardableResult
    public func reload() throws -> Int {
        let file = try TenantsFile.load(path)
        let fresh = Self.index(file)
        index.withLock { $0 = fresh }
        let policies = Self.policies(file)
        self.policies.withLock { $0 = policies }
        let secrets = Self.webhookSecrets(file)
        webhookSecrets.withLock { $0 = secrets }
        onPolicies.withLock { $0 }?(policies)
        return file.tenants.count
    }

    /// The principal a presented token stands for, if any tenant holds it.
    func principal(presenting token: String) -> Principal? {
        let hash = TenantsFile.hash(token)
        return index.withLock { $0.byHash[hash] }
    }

    /// Calls `body` with each tenant's weight and limits now and after each reload.
    public func followPolicies(_ body: @escaping @Sendable ([String: ClaimPolicy.Tenant]) -> Void) {
        onPolicies.withLock { $0 = body }
        body(policies.withLock { $0 })
    }

    private static func policies(_ file: TenantsFile) -> [String: ClaimPolicy.Tenant] {
        Dictionary(uniqueKeysWithValues: file.tenants.map {
            ($0.name, ClaimPolicy.Tenant(weight: $0.weight ?? 1, limits: $0.limits ?? TenantLimits()))
        })
    }

    /// The secret `tenant`'s jobs' webhooks are signed with, if it has its own.
    public func webhookSecret(of tenant: String) -> WebhookSecret? {
        webhookSecrets.withLock { $0[tenant] }
    }

    private static func webhookSecrets(_ file: TenantsFile) -> [String: WebhookSecret] {
        // The file's check (``TenantsFile/problem``) parsed each already.
        Dictionary(uniqueKeysWithValues: file.tenants.compactMap { tenant in
            tenant.webhookSecret.flatMap { try? WebhookSecret(parsing: $0) }.map { (tenant.name, $0) }
        })
    }

    /// The principal of the tenant named `name`, if the file has one.
    public func principal(named name: String) -> Principal? {
        index.withLock { $0.byName[name] }
    }

    private static func index(_ file: TenantsFile) -> (byHash: [String: Principal], byName: [String: Principal]) {
        var byHash: [String: Principal] = [:]
        var byName: [String: Principal] = [:]
        for tenant in file.tenants {
            byName[tenant.name] = tenant.principal
            for token in tenant.tokens { byHash[token.lowercased()] = tenant.principal }
        }
        return (byHash, byName)
    }
}
