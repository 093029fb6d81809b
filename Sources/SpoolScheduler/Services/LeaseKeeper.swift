import Foundation
import Logging
import ServiceLifecycle
import SpoolCore

/// Proves this host alive: renews the leases of its jobs, takes back jobs whose host
/// stopped renewing, and stops local attempts the store no longer gives it.
public struct LeaseKeeper: Service {
    let store: any JobStore
    let dispatcher: Dispatcher
    let configuration: SchedulerConfiguration
    let clock: any WallClock
    let logger: Logger

    public init(
        store: any JobStore, dispatcher: Dispatcher, configuration: SchedulerConfiguration,
        clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "spool.leases")
    ) {
        self.store = store
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await beat()
            try? await Task.sleep(for: .seconds(configuration.heartbeatSeconds))
        }
    }

    /// One heartbeat.
    public func beat() async {
        let now = clock.now()
        do {
            try await store.renewLeases(
                host: configuration.host, until: now.addingTimeInterval(configuration.leaseSeconds), now: now)
            let recovered = try await store.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: now))
            for job in recovered {
                logger.warning("took back a job whose host stopped renewing its lease", metadata: ["job": "\(job.id)", "state": "\(job.state)"])
            }
            if !recovered.isEmpty { dispatcher.wakeUp() }
        } catch {
            logger.error("heartbeat failed", metadata: ["error": "\(error)"])
        }
        await dispatcher.reconcile()
    }
}
