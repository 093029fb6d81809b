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
    /// Slots its jobs hold at once; its next job waits for one of them to leave its slot.
    public var maxRunning: Int?
    /// Slot time in any 24 h (``quotaWindow``), its running jobs' so far included: past it, its
    /// jobs wait until enough of that time is a day old (or, with `--over-quota refuse`, a
    /// submission is refused).
    public var gpuSecondsPerDay: Double?
    /// Slot time one job may hold: its time limit on the slot.
    public var maxGpuSecondsPerJob: Double?

    public init(maxQueued: Int? = nil, maxRunning: Int? = nil, gpuSecondsPerDay: Double? = nil, maxGpuSecondsPerJob: Double? = nil) {
        self.maxQueued = maxQueued
        self.maxRunning = maxRunning
        self.gpuSecondsPerDay = gpuSecondsPerDay
        self.maxGpuSecondsPerJob = maxGpuSecondsPerJob
    }

    /// The window ``gpuSecondsPerDay`` counts over: the last 24 h, sliding.
    public static let quotaWindow = 86_400.0

    /// Why the tenant of `usage` may start no job now, if so: the one rule of `maxRunning` and
    /// `gpuSecondsPerDay`, for the claim and for a refused submission alike. `hours` is the
    /// tenant's slot time by the hour its attempts ended: when enough of it is a day old, room
    /// comes back (told to the end of the hour it ended in: at most an hour late, never early).
    public func hold(_ usage: TenantUsage, hours: [TenantHour], now: Date) -> TenantHold? {
        let name = usage.tenant ?? "of the host"
        if let maxRunning, usage.running >= maxRunning {
            return TenantHold(
                reason: "tenant \(name) has \(usage.running) jobs running, its limit (maxRunning \(maxRunning)); the next starts when one of them leaves its slot",
                until: nil)
        }
        guard let quota = gpuSecondsPerDay, usage.gpuSeconds >= quota else { return nil }
        guard quota > 0 else {
            return TenantHold(reason: "tenant \(name) may use no GPU time (gpuSecondsPerDay 0); its jobs wait until the limit is raised", until: nil)
        }
        let used = "tenant \(name) used \(String(format: "%.1f", usage.gpuSeconds)) of its \(String(format: "%g", quota)) GPU-seconds in the last 24 h (gpuSecondsPerDay)"
        // The oldest hours leave the window first: room once what leaves takes the use under the quota.
        let windowStart = now.timeIntervalSince1970 - Self.quotaWindow
        var left = usage.gpuSeconds
        for hour in hours.sorted(by: { $0.hour < $1.hour }) where Double(hour.hour + 1) * 3_600 > windowStart {
            left -= hour.seconds
            if left < quota {
                let until = Date(timeIntervalSince1970: Double(hour.hour + 1) * 3_600 + Self.quotaWindow)
                return TenantHold(reason: "\(used); room again by \(until.formatted(.iso8601))", until: until)
            }
        }
        return TenantHold(reason: "\(used), mostly by its jobs running now; room again 24 h after they end", until: nil)
    }
}

/// Why a tenant's jobs wait: ``TenantLimits/hold(_:hours:now:)``.
public struct TenantHold: Sendable, Hashable {
    public var reason: String
    /// When the hold ends by itself (a daily quota's room coming back); nil: when jobs end.
    public var until: Date?

    public init(reason: String, until: Date?) {
        self.reason = reason
        self.until = until
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
