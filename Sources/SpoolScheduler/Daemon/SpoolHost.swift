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
    public let pipelines: PipelineCatalog
    public let configuration: SchedulerConfiguration
    public let events: JobEventHub
    public let statistics: SchedulerStatistics
    public let dispatcher: Dispatcher
    public let submitter: JobSubmitter
    public let leaseKeeper: LeaseKeeper
    public let clock: any WallClock

    public init(
        store: any JobStore, pipelines: PipelineCatalog, configuration: SchedulerConfiguration,
        generator: any VideoGenerator = WorkerGenerator(), encoders: (any VideoEncoderFactory)? = nil,
        clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "spool")
    ) throws {
        try configuration.data.create()
        guard pipelines[configuration.defaultPipeline] != nil else {
            throw SpoolHostError(description: "the default pipeline \"\(configuration.defaultPipeline)\" is not among the loaded pipelines (\(pipelines.names.joined(separator: ", ")))")
        }
        self.store = store
        self.pipelines = pipelines
        self.configuration = configuration
        self.clock = clock
        events = JobEventHub()
        statistics = SchedulerStatistics()
        let dispatcher = Dispatcher(
            store: store, pipelines: pipelines, configuration: configuration, generator: generator,
            encoders: encoders ?? FFmpegEncoderFactory(settings: configuration.encoder), events: events,
            statistics: statistics, clock: clock, logger: logger)
        self.dispatcher = dispatcher
        submitter = JobSubmitter(
            store: store, pipelines: pipelines, configuration: configuration, clock: clock,
            onSubmit: { dispatcher.wakeUp() })
        leaseKeeper = LeaseKeeper(store: store, dispatcher: dispatcher, configuration: configuration, clock: clock, logger: logger)
    }

    /// The host's own long-running services.
    public var services: [any Service] { [dispatcher, leaseKeeper] }

    /// Runs `services` plus any others (HTTP, drop folder) until SIGTERM or SIGINT, then
    /// shuts down gracefully.
    public func run(with others: [any Service] = [], logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(
            services: (services + others).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

public struct SpoolHostError: Error, CustomStringConvertible {
    public var description: String
}
