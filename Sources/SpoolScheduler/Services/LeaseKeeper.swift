import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import Synchronization

/// Proves this host alive: renews the leases of its jobs, takes back jobs whose host
/// stopped renewing, writes outcomes the store refused earlier, stops local attempts the
/// store no longer gives it, and settles jobs it is recorded as running but no longer runs.
public struct LeaseKeeper: Service {
    let store: any JobStore
    let writes: JobWrites
    let dispatcher: Dispatcher
    let configuration: SchedulerConfiguration
    let clock: any WallClock
    let logger: Logger
    /// Until when the last renewal the store accepted holds this host's leases, and when
    /// this host may take other hosts' expired jobs again after it was cut off itself.
    private let renewals = Renewals()

    private struct RenewalState {
        var renewedUntil: Date?
        /// Set by a failed heartbeat; cleared by the first one the store accepts after it,
        /// which sets ``takeOversFrom``.
        var cutOff = false
        var takeOversFrom: Date?
        /// When the last time this host was cut off ended.
        var reconnectedAt: Date?
        /// Since when a renewal has been on its way to the store, if one is.
        var renewing: Date?
    }

    private final class Renewals: Sendable {
        private let state = Mutex(RenewalState())
        func withLock<T: Sendable>(_ body: (inout RenewalState) -> T) -> T { state.withLock { body(&$0) } }
    }

    public init(
        store: any JobStore, events: JobEventHub, dispatcher: Dispatcher, configuration: SchedulerConfiguration,
        clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "spool.leases")
    ) {
        self.store = store
        writes = JobWrites(store: store, events: events)
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    /// Beats until its service group stops it, which `SpoolHost` does only after the
    /// dispatcher has drained: leases are renewed as long as any job may still finish here.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            if store.isShared {
                // Self-fencing by the clock, apart from the beat: a heartbeat held up by the
                // store (a query waiting for its deadline, a retry) must not keep an attempt
                // running past its lease.
                group.addTask {
                    while !Task.isCancelled && !Task.isShuttingDownGracefully {
                        await fenceIfLeasesRanOut()
                        await cancelWhenGracefulShutdown {
                            try? await Task.sleep(for: .seconds(min(0.5, configuration.heartbeatSeconds)))
                        }
                    }
                }
            }
            // The first pause is a random part of a heartbeat: hosts started together (a
            // fleet's deploy, the fleet simulator) would otherwise beat together, every
            // heartbeat a burst at the store. A shorter pause only renews sooner.
            var pause = configuration.heartbeatSeconds * Double.random(in: 0..<1)
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await beat()
                // The pause ends early for a graceful shutdown, so stopping takes no heartbeat's wait.
                let seconds = pause
                await cancelWhenGracefulShutdown {
                    try? await Task.sleep(for: .seconds(seconds))
                }
                pause = configuration.heartbeatSeconds
            }
            group.cancelAll()
        }
    }

    /// Stops every local attempt once the last lease the store accepted has run out: another
    /// host may take their jobs from then on, and going on would run them twice (issue 27).
    /// Only while renewing fails or hangs: a heartbeat that renews late but does renew is a
    /// slow host, not a cut-off one, and its leases are renewed before another host's
    /// recovery would look (that host must have heard nothing for a whole lease).
    func fenceIfLeasesRanOut() async {
        let now = clock.now()
        guard let until = renewals.withLock({ $0.cutOff || $0.renewing != nil ? $0.renewedUntil : nil }), now >= until else { return }
        await dispatcher.fence(reason: "host \(configuration.host) could not renew its leases, which ran out at \(until)", renewedUntil: until, now: now)
    }

    /// One heartbeat: one request to the store (``JobStore/heartbeat(_:)``), whose report
    /// says whether anything else needs asking. On a shared store, a fleet of idle hosts then
    /// costs the database one statement per host and heartbeat (issue 33).
    public func beat() async {
        let now = clock.now()
        let until = now.addingTimeInterval(configuration.leaseSeconds)
        let (request, asked) = await dispatcher.heartbeat(leaseUntil: until, now: now)
        let report: HeartbeatReport
        do {
            renewals.withLock { $0.renewing = now }
            defer { renewals.withLock { $0.renewing = nil } }
            report = try await store.heartbeat(request)
            // A lease that ran out while this host could not reach the store either is no
            // evidence that its host is gone: it may have been as cut off as this one (the
            // store itself was down). Take over only once every host has had a lease's time
            // to renew since this one is back (issue 27).
            let (takeOversFrom, reconnectedAt) = renewals.withLock { state in
                state.renewedUntil = until
                if state.cutOff {
                    state.cutOff = false
                    state.reconnectedAt = now
                    state.takeOversFrom = now.addingTimeInterval(configuration.leaseSeconds)
                }
                return (state.takeOversFrom, state.reconnectedAt)
            }
            if let takeOversFrom, now < takeOversFrom {
                logger.debug("not taking over expired leases yet: this host was cut off too", metadata: ["until": "\(takeOversFrom)"])
            } else if report.expiredLeases {
                let recovered = try await writes.recoverLostJobs(RecoveryRequest(
                    restartedHost: nil, expiredLeases: true, now: now, outageEndedAt: reconnectedAt))
                for job in recovered {
                    logger.warning("took back a job whose host stopped renewing its lease", metadata: ["job": "\(job.id)", "state": "\(job.state)"])
                }
                if !recovered.isEmpty { dispatcher.wakeUp() }
            }
        } catch {
            logger.error("heartbeat failed", metadata: ["error": "\(error)"])
            renewals.withLock { $0.cutOff = true }
            if store.isShared { await fenceIfLeasesRanOut() }
            await dispatcher.flushOutcomes()
            return
        }
        await dispatcher.flushOutcomes()
        await dispatcher.advertiseReadyModels()
        await dispatcher.reconcile(report.standings, asked: asked)
        if report.orphans { await dispatcher.settleOrphans() }
        // A job that waits although a slot here is free: its wake-up went to a host that had
        // filled up meanwhile, or its retry delay has passed.
        if report.workWaiting { dispatcher.wakeUp() }
    }
}
