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
    /// Until when the last renewal the store accepted holds this host's leases.
    private let renewedUntil = RenewedUntil()

    private final class RenewedUntil: Sendable {
        private let date = Mutex<Date?>(nil)
        func withLock<T: Sendable>(_ body: (inout Date?) -> T) -> T { date.withLock { body(&$0) } }
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
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await beat()
            // The pause ends early for a graceful shutdown, so stopping takes no heartbeat's wait.
            await cancelWhenGracefulShutdown {
                try? await Task.sleep(for: .seconds(configuration.heartbeatSeconds))
            }
        }
    }

    /// One heartbeat.
    public func beat() async {
        let now = clock.now()
        do {
            let until = now.addingTimeInterval(configuration.leaseSeconds)
            try await store.renewLeases(host: configuration.host, until: until, now: now)
            renewedUntil.withLock { $0 = until }
            let recovered = try await writes.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: now))
            for job in recovered {
                logger.warning("took back a job whose host stopped renewing its lease", metadata: ["job": "\(job.id)", "state": "\(job.state)"])
            }
            if !recovered.isEmpty { dispatcher.wakeUp() }
        } catch {
            logger.error("heartbeat failed", metadata: ["error": "\(error)"])
            // Self-fencing: past the last lease the store accepted, another host may take this
            // host's jobs; going on would run them twice (issue 27).
            if store.isShared, let until = renewedUntil.withLock({ $0 }), now >= until {
                await dispatcher.fence(reason: "host \(configuration.host) could not renew its leases, which ran out at \(until): \(error)")
            }
        }
        await dispatcher.flushOutcomes()
        await dispatcher.advertiseReadyModels()
        await dispatcher.reconcile()
        await dispatcher.settleOrphans()
    }
}
