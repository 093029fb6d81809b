import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolMedia
import SpoolPostgres
import SpoolScheduler
import Synchronization

/// Many Spool hosts in one process sharing one PostgreSQL queue (issue 33). Each is what a
/// GPU host runs to take jobs and follow the others': the real dispatcher, lease keeper, job
/// change relay and store client (its own connection pool and its own `LISTEN`s), in a
/// service group of its own. Only the attempts are
/// simulated (``AttemptWork/simulated(_:)``): they hold their slot until `work` returns.
public final class SimulatedFleet: Sendable {
    public struct Settings: Sendable {
        public var slotsPerHost: Int
        public var heartbeatSeconds: Double
        public var leaseSeconds: Double
        /// Connections each host's pool may open beside the one its `LISTEN`s share.
        public var poolSize: Int
        /// How long a simulated attempt holds its slot; return early when cancelled.
        public var work: @Sendable (Job) async -> Void
        /// Whether each host runs the job change relay, as `spool serve` does: it listens to
        /// every change of every job, which PostgreSQL signals to each listener.
        public var followsChanges: Bool

        public init(
            slotsPerHost: Int = 8, heartbeatSeconds: Double = 1, leaseSeconds: Double = 5, poolSize: Int = 2, followsChanges: Bool = true,
            work: @escaping @Sendable (Job) async -> Void
        ) {
            self.followsChanges = followsChanges
            self.slotsPerHost = slotsPerHost
            self.heartbeatSeconds = heartbeatSeconds
            self.leaseSeconds = leaseSeconds
            self.poolSize = poolSize
            self.work = work
        }
    }

    /// One simulated host.
    public final class Host: Sendable {
        public let name: String
        public let dispatcher: Dispatcher
        public let statistics: SchedulerStatistics
        /// Refuses every write once the host is killed: a process killed outright writes nothing more.
        let cut: FailingJobStore
        let running: Mutex<Task<Void, any Error>?> = Mutex(nil)
        let group: ServiceGroup

        init(name: String, dispatcher: Dispatcher, statistics: SchedulerStatistics, cut: FailingJobStore, group: ServiceGroup) {
            self.name = name
            self.dispatcher = dispatcher
            self.statistics = statistics
            self.cut = cut
            self.group = group
        }
    }

    /// The simulated attempts' pipeline: no command is ever run.
    public static let pipeline = PipelineDefinition(
        name: "simulated", command: ["/bin/false"], chunking: .init(frames: 24), sizes: .init(default: FrameSize(width: 64, height: 48)))

    public let hosts: [Host]
    public let folder: TemporaryDirectory

    /// Starts `count` hosts named `host-000`…, each registered and listening when this returns.
    public init(address: PostgresStoreAddress, hosts count: Int, settings: Settings, namePrefix: String = "host-") async throws {
        folder = try TemporaryDirectory("spool-fleet")
        var logger = Logger(label: "spool.fleet")
        logger.logLevel = .critical
        var address = address
        // The store's LISTENs hold one connection of the pool for good.
        address.poolSize = settings.poolSize + 1
        var made: [Host] = []
        for index in 0..<count {
            let name = namePrefix + String(format: "%03d", index)
            let store = try await PostgresJobStore.connect(address, connectionWait: 30, logger: logger)
            let cut = FailingJobStore(store, shared: true)
            let configuration = SchedulerConfiguration(
                host: name, data: DataDirectory(folder.file(name)), slots: (0..<settings.slotsPerHost).map(GPUSlot.virtual),
                defaultPipeline: Self.pipeline.name, leaseSeconds: settings.leaseSeconds, heartbeatSeconds: settings.heartbeatSeconds,
                // A host of a shared queue claims when woken, not on its timer; the timer's
                // other work (idle residents, preemption) has nothing to do here.
                pollSeconds: settings.heartbeatSeconds, shutdownGraceSeconds: 0, minFreeSpaceBytes: 0)
            let statistics = SchedulerStatistics()
            let dispatcher = Dispatcher(
                store: cut, pipelines: PipelineCatalog([Self.pipeline]), configuration: configuration, encoders: FFmpegEncoderFactory(),
                statistics: statistics, logger: logger, work: .simulated(settings.work))
            let events = JobEventHub()
            let leases = LeaseKeeper(store: cut, events: events, dispatcher: dispatcher, configuration: configuration, logger: logger)
            // Every host follows the jobs other hosts change, as `SpoolHost` does.
            let relay = JobChangeRelay(store: cut, events: events, host: name, logger: logger)
            // The store first, so that it stops last (as in `SpoolHost`).
            let services: [any Service] = settings.followsChanges ? [store, leases, relay, dispatcher] : [store, leases, dispatcher]
            let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
            made.append(Host(name: name, dispatcher: dispatcher, statistics: statistics, cut: cut, group: group))
        }
        hosts = made
        // Started together; each lease keeper spreads its own heartbeats (a random first pause).
        for host in hosts {
            host.running.withLock { $0 = Task { try await host.group.run() } }
        }
        // Every host is in the registry (its dispatcher registers it as it starts).
        let probe = try await PostgresJobStore.connect(address, logger: logger)
        let pool = Task { await probe.run() }
        defer { pool.cancel() }
        try await until("\(count) hosts are registered", stalledFor: 60, progress: { (try? await probe.hosts().count) ?? 0 }) {
            (try? await probe.hosts().count) ?? 0 >= count
        }
    }

    /// Kills hosts as `kill -9` would: from this instant none of them writes to the store
    /// again (not even to leave the registry), and their tasks are cancelled.
    public func kill(_ names: Set<String>) async {
        let dead = hosts.filter { names.contains($0.name) }
        for host in dead { host.cut.failWrites(true) }
        for host in dead {
            // The process is gone: so are its attempts, whatever their leases (what they would
            // write is refused).
            await host.dispatcher.fence(reason: "the host was killed", renewedUntil: .distantPast, now: .distantFuture)
            host.running.withLock { $0?.cancel() }
        }
    }

    /// Stops every host still running, gracefully, and removes their folders.
    public func stop() async {
        for host in hosts { await host.group.triggerGracefulShutdown() }
        for host in hosts { _ = try? await host.running.withLock({ $0 })?.value }
        folder.remove()
    }

    /// Claims asked of the store, and those that found nothing, over every host.
    public var claims: (total: Int, empty: Int) {
        hosts.reduce((0, 0)) { sum, host in
            let snapshot = host.statistics.snapshot
            return (sum.0 + snapshot.claims, sum.1 + snapshot.emptyClaims)
        }
    }
}
