import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import SpoolCore
import SpoolGenerators
import SpoolMedia

/// One Spool host, wired: the store, its pipelines, the dispatcher and the services
/// that keep it alive. Doors (HTTP, drop folder) add their own services beside these.
public struct SpoolHost: Sendable {
    public let store: any JobStore
    /// The store's own long-running part (PostgreSQL's connections and listener), if it has one.
    public let storeService: (any Service)?
    public let pipelines: PipelineCatalog
    public let configuration: SchedulerConfiguration
    public let events: JobEventHub
    public let statistics: SchedulerStatistics
    public let dispatcher: Dispatcher
    public let submitter: JobSubmitter
    /// What every door does with jobs: submit with their files, read, cancel, delete.
    public let operations: JobOperations
    public let leaseKeeper: LeaseKeeper
    /// Brings changes made by other hosts sharing the store into ``events``.
    public let relay: JobChangeRelay
    /// Removes inputs no job refers to any more.
    public let inputSweeper: InputSweeper
    /// Removes live previews a while after their jobs end.
    public let liveSweeper: LiveSweeper
    /// Checkpoint folders of jobs that ended on a host that died before removing them.
    public let checkpointSweeper: LiveSweeper
    public let clock: any WallClock

    public init(
        store: any JobStore, storeService: (any Service)? = nil, pipelines: PipelineCatalog, configuration: SchedulerConfiguration,
        launcher: WorkerLauncher = WorkerLauncher(), encoders: (any VideoEncoderFactory)? = nil,
        clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "spool")
    ) throws {
        try configuration.data.create()
        guard pipelines[configuration.defaultPipeline] != nil else {
            throw SpoolHostError(description: "the default pipeline \"\(configuration.defaultPipeline)\" is not among the loaded pipelines (\(pipelines.names.joined(separator: ", ")))")
        }
        self.store = store
        self.storeService = storeService
        self.pipelines = pipelines
        self.configuration = configuration
        self.clock = clock
        events = JobEventHub()
        statistics = SchedulerStatistics()
        let inputs = InputLibrary(folder: configuration.data.inputs, limits: configuration.inputLimits)
        let dispatcher = Dispatcher(
            store: store, pipelines: pipelines, configuration: configuration, launcher: launcher,
            encoders: encoders ?? FFmpegEncoderFactory(settings: configuration.encoder), inputs: inputs, events: events,
            statistics: statistics, clock: clock, logger: logger)
        self.dispatcher = dispatcher
        submitter = JobSubmitter(
            store: store, pipelines: pipelines, configuration: configuration, inputs: inputs, clock: clock,
            onSubmit: { dispatcher.wakeUp() })
        operations = JobOperations(store: store, submitter: submitter, dispatcher: dispatcher, data: configuration.data)
        inputSweeper = InputSweeper(
            store: store, inputs: inputs, retentionSeconds: configuration.inputRetentionSeconds, clock: clock, logger: logger)
        liveSweeper = LiveSweeper(
            store: store, folder: configuration.data.live, retentionSeconds: configuration.liveRetentionSeconds, clock: clock,
            logger: logger)
        checkpointSweeper = LiveSweeper(
            store: store, folder: configuration.data.checkpoints, retentionSeconds: 0, every: 60, clock: clock, logger: logger)
        leaseKeeper = LeaseKeeper(store: store, events: events, dispatcher: dispatcher, configuration: configuration, clock: clock, logger: logger)
        relay = JobChangeRelay(store: store, events: events, host: configuration.host, logger: logger)
    }

    /// Every long-running service of the host with its `doors` (HTTP, drop folder, metrics),
    /// in the order a ``ServiceGroup`` must run them.
    ///
    /// A service group stops its services one at a time, in reverse order, each only once the
    /// one after it has returned. So the dispatcher comes last and stops first: it claims
    /// nothing more and gives running jobs their grace period, while the doors go on
    /// answering (clients polling a draining host see their jobs finish, and the drop folder
    /// writes their results) and the lease keeper goes on renewing their leases (another host
    /// must not take back a job that is still finishing here). The relay of other hosts'
    /// changes outlives the doors it feeds. The store's own connections come first and close
    /// last, after everything that writes through them.
    public func services(doors: [any Service] = []) -> [any Service] {
        var ordered: [any Service] = []
        if let storeService { ordered.append(storeService) }
        ordered.append(leaseKeeper)
        ordered.append(relay)
        ordered.append(inputSweeper)
        ordered.append(liveSweeper)
        ordered.append(checkpointSweeper)
        ordered += doors
        ordered.append(dispatcher)
        return ordered
    }

    /// Runs the host's services and its `doors` until SIGTERM or SIGINT, then shuts down
    /// gracefully, in the order ``services(doors:)`` gives.
    ///
    /// The whole shutdown is bounded: the dispatcher's grace, then ``extraShutdownSeconds``
    /// for the rest (event streams' last events, the store's last writes); past that the
    /// services are cancelled, and ``cancellationSeconds`` later the group gives up on them. A
    /// client that stops reading an open response can then hold SIGTERM no longer (issue 34).
    public func run(with doors: [any Service] = [], logger: Logger) async throws {
        var group = ServiceGroupConfiguration(
            services: services(doors: doors).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(configuration.shutdownGraceSeconds + Self.extraShutdownSeconds)
        group.maximumCancellationDuration = .seconds(Self.cancellationSeconds)
        try await ServiceGroup(configuration: group).run()
    }

    /// What a graceful shutdown may take beyond `--shutdown-grace`.
    public static let extraShutdownSeconds = 10.0
    /// How long cancelled services get before the group returns without them.
    public static let cancellationSeconds = 5.0
}

public struct SpoolHostError: Error, CustomStringConvertible {
    public var description: String
}
