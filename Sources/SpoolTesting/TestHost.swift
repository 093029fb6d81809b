import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolScheduler
import SpoolSQLite

/// A whole Spool host in the test process: a real SQLite store in a scratch folder,
/// synthetic pipelines run as real worker processes, real encoding, and the dispatcher
/// and lease keeper running as services, with timings shortened for tests.
public final class TestHost: Sendable {
    public let directory: TemporaryDirectory
    public let host: SpoolHost
    public let store: SQLiteJobStore
    /// The store the host writes through, when made with `failingStore`.
    public let failing: FailingJobStore?
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// - Parameters:
    ///   - slots: virtual slots.
    ///   - pipelines: extra pipelines beside `synthetic` (8-frame chunks, 64x48 default).
    ///   - frameCostMilliseconds: the synthetic worker's stand-in for GPU time per frame.
    ///   - encoders: the encoder factory; nil: FFmpeg with the configuration's settings.
    ///   - failingStore: the host writes through a ``FailingJobStore`` (``failing``) whose
    ///     writes the test can make fail; ``store`` stays the real one, for the test's reads.
    ///   - sharedStore: that failing store stands for a shared queue (``JobStore/isShared``).
    ///   - routes: the route table jobs naming `"pipeline": "auto"` are routed by.
    public init(
        slots: Int = 1, pipelines: [PipelineDefinition] = [], frameCostMilliseconds: Double = 0,
        maxAttempts: Int = 3, shutdownGrace: Double = 5, encoders: (any VideoEncoderFactory)? = nil,
        failingStore: Bool = false, sharedStore: Bool = false, routes: RouteTable? = nil, configure: (inout SchedulerConfiguration) -> Void = { _ in }
    ) async throws {
        directory = try TemporaryDirectory("host")
        var catalog = PipelineCatalog()
        catalog.add(Fixtures.synthetic(arguments: ["--frame-cost-ms", String(frameCostMilliseconds)]))
        for pipeline in pipelines { catalog.add(pipeline) }
        catalog.routes = routes
        var configuration = SchedulerConfiguration(
            host: "test-host", data: DataDirectory(directory.path), slots: (0..<slots).map(GPUSlot.virtual),
            encoder: EncoderSettings(preset: "ultrafast"),
            retry: RetryPolicy(maxAttempts: maxAttempts, baseDelay: 0.05, maxDelay: 0.2),
            leaseSeconds: 5, heartbeatSeconds: 0.2, pollSeconds: 0.05, shutdownGraceSeconds: shutdownGrace,
            minFreeSpaceBytes: 0, spaceRecheckSeconds: 0.2)
        configure(&configuration)
        store = try SQLiteJobStore(path: configuration.data.storePath)
        var logger = Logger(label: "spool.test")
        logger.logLevel = ProcessInfo.processInfo.environment["SPOOL_TEST_LOG"] != nil ? .debug : .critical
        failing = failingStore ? FailingJobStore(store, shared: sharedStore) : nil
        host = try SpoolHost(
            store: failing ?? store, pipelines: catalog, configuration: configuration, encoders: encoders, logger: logger)
        group = ServiceGroup(configuration: .init(
            services: host.services().map { .init(service: $0) }, gracefulShutdownSignals: [], logger: logger))
        let group = self.group
        task = Task { try await group.run() }
    }

    /// Submits a job through the host's submitter.
    @discardableResult
    public func submit(
        frames: Int = 24, pipeline: String = "synthetic", priority: Int = 0, timeLimit: Double? = nil
    ) async throws -> Job {
        try await host.submitter.submit(JobSpec(
            prompt: "test", frames: frames, pipeline: pipeline, priority: priority, timeLimitSeconds: timeLimit)).job
    }

    /// Polls the store until `predicate` holds for the job, or fails after `timeout`.
    @discardableResult
    public func wait(for id: JobID, timeout: Double = 30, until predicate: (Job) -> Bool) async throws -> Job {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let job = try await store.job(id), predicate(job) { return job }
            if Date() > deadline {
                let job = try await store.job(id)
                throw ProbeError(message: "timed out waiting for job \(id); it is \(job.map { "\($0.state): \($0.error ?? "")" } ?? "missing")")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the job is in `state`.
    @discardableResult
    public func wait(for id: JobID, state: JobState, timeout: Double = 30) async throws -> Job {
        try await wait(for: id, timeout: timeout) { $0.state == state }
    }

    /// Starts a graceful shutdown, as SIGTERM would, and waits for the services to end.
    public func shutDown() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Stops everything and removes the scratch folder.
    public func stop() async {
        try? await shutDown()
        directory.remove()
    }
}
