import Foundation
import SpoolCore
import Synchronization

/// Fair share between tenants (issue 31, after Slurm's): within one priority, the next job
/// goes to the tenant whose usage divided by its weight is lowest. Usage is slot time decayed
/// with a half-life (`--fair-share-half-life`), read from the store, so every host sharing a
/// queue orders the same tenants the same way; the running attempts' time so far counts too,
/// so a tenant's burst is seen as it runs, not only as it ends.
///
/// The order is read again before a claim once it is older than ``refreshSeconds``, or once
/// this host has claimed or heard of new jobs since (``claimed()``): two grouped reads of
/// small results. (Kept for a second only while nothing changed: a single job submitted
/// behind a burst waited for two slots to free, not one, while the order was cached across
/// its submission: 1.007 s for 1 s jobs on 2 slots.) With fewer
/// than two tenants queued the order is empty, and the claim is the plain queue order (its
/// prepared statement and index, as without tenants).
public final class FairShare: Sendable {
    /// Seconds over which a GPU-second's weight halves.
    public let halfLife: Double
    /// How old the order may be before a claim reads it again.
    public let refreshSeconds: Double

    private struct State {
        /// Off until the host serves tenants: a host without them never reads usage.
        var enabled = false
        var weights: [String: Double] = [:]
        var order: [String] = []
        var readAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    public init(halfLife: Double = 86_400, refreshSeconds: Double = 1) {
        self.halfLife = halfLife
        self.refreshSeconds = refreshSeconds
    }

    /// Each tenant's weight (`--tokens`); a tenant not named has 1, as have the host's own
    /// jobs (`""`). Takes effect from the next order read.
    public func setWeights(_ weights: [String: Double]) {
        state.withLock {
            $0.enabled = true
            $0.weights = weights
            $0.readAt = nil
        }
    }

    /// This host claimed a job, or jobs were submitted (here, or to the shared queue): the
    /// next claim reads the order again.
    func claimed() {
        state.withLock { $0.readAt = nil }
    }

    /// The tenants with jobs queued, least served first; empty with fewer than two.
    func order(store: any JobStore, now: Date) async -> [String] {
        let (cached, fresh) = state.withLock { state -> ([String], Bool) in
            guard state.enabled else { return ([], true) }
            guard let readAt = state.readAt else { return (state.order, false) }
            return (state.order, (ContinuousClock.now - readAt).seconds < refreshSeconds)
        }
        if fresh { return cached }
        do {
            let queued = try await store.tenantUsage(since: now).filter { $0.queued > 0 }.map { $0.tenant ?? "" }
            guard queued.count >= 2 else {
                state.withLock {
                    $0.order = []
                    $0.readAt = .now
                }
                return []
            }
            let usage = try await store.decayedUsage(now: now, halfLife: halfLife)
            let order = state.withLock { state -> [String] in
                let ranked = Self.rank(queued, usage: usage, weights: state.weights)
                state.order = ranked
                state.readAt = .now
                return ranked
            }
            return order
        } catch {
            // The claim goes on in queue order; the next claim tries again.
            return []
        }
    }

    /// `tenants` ordered by usage over weight, then name: the rule, apart from its I/O.
    static func rank(_ tenants: [String], usage: [String: Double], weights: [String: Double]) -> [String] {
        tenants.sorted { a, b in
            let x = (usage[a] ?? 0) / max(weights[a] ?? 1, 1e-9)
            let y = (usage[b] ?? 0) / max(weights[b] ?? 1, 1e-9)
            return x != y ? x < y : a < b
        }
    }
}
