import Foundation
import SpoolCore

/// Who a door acts for: which jobs it may see and act on, and what it may submit. The one
/// rule of tenant isolation; ``JobOperations`` applies it to every call, so each door (the
/// jobs API, the videos API, live previews, event streams, the dashboard, the drop folder)
/// gets it by going through the operations layer, and none has a copy of its own.
public struct Principal: Sendable, Hashable {
    /// Recorded on the jobs it submits; nil for the host's own token (`--token-file`), and for
    /// loopback without tokens.
    public var tenant: String?
    /// An admin sees and acts on every job; a user only on its own tenant's.
    public var seesEveryone: Bool
    public var limits: TenantLimits

    public init(tenant: String?, seesEveryone: Bool, limits: TenantLimits = TenantLimits()) {
        self.tenant = tenant
        self.seesEveryone = seesEveryone
        self.limits = limits
    }

    /// The host itself: every job, no limits.
    public static let host = Principal(tenant: nil, seesEveryone: true)

    /// Whether `job` exists as far as this principal can tell. Another tenant's job does not:
    /// a door answers 404 for it, never 403, so its existence does not leak.
    public func maySee(_ job: Job) -> Bool {
        seesEveryone || (tenant != nil && job.tenant == tenant)
    }
}

/// What a tenant may use (`--tokens`); nil: no limit.
public struct TenantLimits: Sendable, Hashable, Codable {
    /// Jobs queued at once; a submission past it is refused (HTTP 429).
    public var maxQueued: Int?
    /// Slot time one job may hold: its time limit on the slot.
    public var maxGpuSecondsPerJob: Double?

    public init(maxQueued: Int? = nil, maxGpuSecondsPerJob: Double? = nil) {
        self.maxQueued = maxQueued
        self.maxGpuSecondsPerJob = maxGpuSecondsPerJob
    }
}

/// A submission past a tenant's limit: nothing was stored; the client may try again later.
public struct QuotaExceeded: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// When trying again makes sense.
    public var retryAfterSeconds: Int

    public init(_ description: String, retryAfterSeconds: Int) {
        self.description = description
        self.retryAfterSeconds = retryAfterSeconds
    }
}
