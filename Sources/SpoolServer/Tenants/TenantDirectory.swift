import Foundation
import SpoolScheduler
import Synchronization

/// The tenants file as the server uses it: each stored token hash to its tenant's principal.
/// Read again on SIGHUP (``reload()``): from then on a removed token is refused (401) on its
/// next request, and a changed limit applies to the next submission. A job already running
/// is not touched.
public final class TenantDirectory: Sendable {
    public let path: String
    /// Each token hash, and each tenant's name, to the tenant's principal.
    private let index: Mutex<(byHash: [String: Principal], byName: [String: Principal])>
    /// Told each tenant's weight at start and at each reload (fair share).
    private let onWeights: Mutex<(@Sendable ([String: Double]) -> Void)?> = Mutex(nil)
    private let weights: Mutex<[String: Double]>

    /// - Throws: ``TenantsFileError`` for a file that cannot be used.
    public init(path: String) throws {
        self.path = path
        let file = try TenantsFile.load(path)
        index = Mutex(Self.index(file))
        weights = Mutex(Self.weights(file))
    }

    /// Reads the file again; a file that cannot be used leaves the tenants as they were.
    /// - Returns: how many tenants it now serves.
    @discardableResult
    public func reload() throws -> Int {
        let file = try TenantsFile.load(path)
        let fresh = Self.index(file)
        index.withLock { $0 = fresh }
        let weights = Self.weights(file)
        self.weights.withLock { $0 = weights }
        onWeights.withLock { $0 }?(weights)
        return file.tenants.count
    }

    /// The principal a presented token stands for, if any tenant holds it.
    func principal(presenting token: String) -> Principal? {
        let hash = TenantsFile.hash(token)
        return index.withLock { $0.byHash[hash] }
    }

    /// Calls `body` with each tenant's weight now and after each reload.
    public func followWeights(_ body: @escaping @Sendable ([String: Double]) -> Void) {
        onWeights.withLock { $0 = body }
        body(weights.withLock { $0 })
    }

    private static func weights(_ file: TenantsFile) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: file.tenants.map { ($0.name, $0.weight ?? 1) })
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
