import Foundation
import SpoolCore
import Synchronization

/// What each claim follows between tenants (issue 31): the order of fair share, and the
/// tenants it leaves out because they are at a limit.
///
/// Fair share, after Slurm's: within one priority, the next job goes to the tenant whose
/// usage divided by its weight is lowest. Usage is slot time decayed with a half-life
/// (`--fair-share-half-life`), read from the store, so every host sharing a queue orders the
/// same tenants the same way; the running attempts' time so far counts too, so a tenant's
/// burst is seen as it runs, not only as it ends.
///
/// Limits: a tenant with `maxRunning` jobs on slots, or whose slot time in the last 24 h
/// (running jobs' so far included) reached its `gpuSecondsPerDay`, is held: its jobs wait,
/// each saying why (``holdReason(for:now:)``), and the others' go ahead. The rule is
/// ``TenantLimits/hold(_:hours:now:)``.
///
/// Both are read again before a claim once older than ``refreshSeconds``, or once this host
/// has claimed, freed a slot or heard of new jobs since (``changed()``): three grouped reads of
/// small results (counts, ended and running slot time by tenant), and a fourth, slot time by
/// tenant and hour, only when two tenants are queued or one is over its day. Kept for a second only while nothing
/// changed: a single job submitted behind a burst waited for two slots to free, not one, while
/// the order was cached across its submission (1.007 s for 1 s jobs on 2 slots). On one host
/// a tenant's `maxRunning` is exact, every claim reading after the last; hosts sharing a queue
/// read each other's claims within that second, so two claiming for the same tenant in the
/// same instant may each start one.
public final class ClaimPolicy: Sendable {
    /// Seconds over which a GPU-second's weight halves.
    public let halfLife: Double
    /// How old the policy may be before a claim reads it again.
    public let refreshSeconds: Double

    /// A tenant as fair share and its limits see it.
    public struct Tenant: Sendable, Hashable {
        public var weight: Double
        public var limits: TenantLimits

        public init(weight: Double = 1, limits: TenantLimits = TenantLimits()) {
            self.weight = weight
            self.limits = limits
        }
    }

    /// What the policy last read, and whether it may still be used: a plain value, the reads
    /// around it in ``tenants(store:now:)``.
    struct State {
        /// Off until the host serves tenants: a host without them never reads usage.
        var enabled = false
        var tenants: [String: Tenant] = [:]
        var current = ClaimTenants()
        var holds: [String: TenantHold] = [:]
        var readAt: ContinuousClock.Instant?
        /// Counts ``changed()``: a read that began before a change is stored but not trusted,
        /// so the change is never lost to a read already on its way (a submission heard while
        /// the usage was being read once let a tenant at its maxRunning take a second slot).
        var generation = 0

        /// The cached claim, if still fresh; else the generation a new read starts at.
        func cached(now: ContinuousClock.Instant, refreshSeconds: Double) -> Cached {
            guard enabled else { return .fresh(ClaimTenants()) }
            if let readAt, (now - readAt).seconds < refreshSeconds { return .fresh(current) }
            return .stale(current, tenants: tenants, generation: generation)
        }

        enum Cached: Equatable {
            case fresh(ClaimTenants)
            case stale(ClaimTenants, tenants: [String: Tenant], generation: Int)
        }

        mutating func changed() {
            generation += 1
            readAt = nil
        }

        /// Stores a read begun at `generation`; fresh only if nothing changed meanwhile.
        mutating func store(_ claim: ClaimTenants, holds: [String: TenantHold], readAt: ContinuousClock.Instant, generation: Int) {
            current = claim
            self.holds = holds
            self.readAt = generation == self.generation ? readAt : nil
        }
    }

    private let state = Mutex(State())

    public init(halfLife: Double = 86_400, refreshSeconds: Double = 1) {
        self.halfLife = halfLife
        self.refreshSeconds = refreshSeconds
    }

    /// Each tenant's weight and limits (`--tokens`); a tenant not named has weight 1 and no
    /// limits, as have the host's own jobs (`""`). Takes effect from the next read.
    public func setTenants(_ tenants: [String: Tenant]) {
        state.withLock {
            $0.enabled = true
            $0.tenants = tenants
            $0.changed()
        }
    }

    /// This host claimed a job or freed a slot, or jobs were submitted (here, or to the shared
    /// queue): the next claim reads the policy again.
    func changed() {
        state.withLock { $0.changed() }
    }

    /// Why `tenant`'s queued jobs wait, if it is held at a limit: as of the last read, and
    /// never past the time its quota said room comes back.
    public func holdReason(for tenant: String?, now: Date) -> String? {
        state.withLock { state in
            guard let hold = state.holds[tenant ?? ""] else { return nil }
            if let until = hold.until, until <= now { return nil }
            return hold.reason
        }
    }

    /// The order and the held tenants for the next claim.
    func tenants(store: any JobStore, now: Date) async -> ClaimTenants {
        let (cached, tenants, generation): (ClaimTenants, [String: Tenant], Int)
        switch state.withLock({ $0.cached(now: .now, refreshSeconds: refreshSeconds) }) {
        case .fresh(let claim): return claim
        case .stale(let claim, let named, let at): (cached, tenants, generation) = (claim, named, at)
        }
        do {
            let usage = try await store.tenantUsage(since: now.addingTimeInterval(-TenantLimits.quotaWindow), now: now)
            let queued = usage.filter { $0.queued > 0 }
            let overDay = usage.contains { entry in
                tenants[entry.tenant ?? ""]?.limits.gpuSecondsPerDay.map { entry.gpuSeconds >= $0 } ?? false
            }
            // Ten half-lives back (what decays to under 0.1 %), and at least the quota's day.
            let since = now.addingTimeInterval(-max(10 * halfLife, TenantLimits.quotaWindow))
            let hours = queued.count >= 2 || overDay ? try await store.hourlyUsage(since: since) : []
            let decided = Self.decide(usage: usage, hours: hours, tenants: tenants, now: now, halfLife: halfLife)
            state.withLock { $0.store(decided.claim, holds: decided.holds, readAt: .now, generation: generation) }
            return decided.claim
        } catch {
            // The claim goes on as last read; the next claim tries again.
            return cached
        }
    }

    /// The policy from what the store says, apart from its I/O: the held tenants, and the
    /// others with jobs queued ranked by decayed usage over weight, then name (empty when
    /// fewer than two). A tenant at a limit is held whether or not it has jobs queued as of
    /// this read: one it submits before the next read must wait too.
    static func decide(
        usage: [TenantUsage], hours: [TenantHour], tenants: [String: Tenant], now: Date, halfLife: Double
    ) -> (claim: ClaimTenants, holds: [String: TenantHold]) {
        var holds: [String: TenantHold] = [:]
        var candidates: [String] = []
        var decayed = decay(hours, now: now, halfLife: halfLife)
        for entry in usage {
            let name = entry.tenant ?? ""
            decayed[name, default: 0] += entry.runningSeconds
            if let hold = tenants[name]?.limits.hold(entry, hours: hours.filter { $0.tenant == name }, now: now) {
                holds[name] = hold
            } else if entry.queued > 0 {
                candidates.append(name)
            }
        }
        let order = candidates.count < 2 ? [] : candidates.sorted { a, b in
            let x = decayed[a, default: 0] / max(tenants[a]?.weight ?? 1, 1e-9)
            let y = decayed[b, default: 0] / max(tenants[b]?.weight ?? 1, 1e-9)
            return x != y ? x < y : a < b
        }
        return (ClaimTenants(order: order, held: holds.keys.sorted()), holds)
    }

    /// The decayed sums of `hours`, by tenant. An hour's bucket is decayed from its middle, off
    /// by at most half an hour of decay (1.5 % at a 24 h half-life): no SQL math function is
    /// needed, which SQLite lacks.
    static func decay(_ hours: [TenantHour], now: Date, halfLife: Double) -> [String: Double] {
        var usage: [String: Double] = [:]
        let t = now.timeIntervalSince1970
        for row in hours {
            let age = max(0, t - (Double(row.hour) * 3_600 + 1_800))
            usage[row.tenant, default: 0] += row.seconds * pow(0.5, age / halfLife)
        }
        return usage
    }
}

/// The tenants' part of a claim: ``ClaimRequest/tenantOrder`` and ``ClaimRequest/heldTenants``.
struct ClaimTenants: Sendable, Hashable {
    var order: [String] = []
    var held: [String] = []
}
