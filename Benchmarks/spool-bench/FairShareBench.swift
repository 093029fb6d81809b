import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolMedia
import SpoolScheduler
import SpoolSQLite

/// Fair share between tenants (issue 31), on synthetic jobs of a fixed generation time on
/// virtual slots, as real worker processes:
/// - a burst: tenant a submits `--burst` jobs, then tenant b one; how long b's job waits,
///   against one job's length (and against what it waits in queue order, computed);
/// - saturation: both tenants keep `2 x slots` jobs queued for `--seconds`; each one's share
///   of the slot time against its weight's share.
struct FairShareBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fairshare", abstract: "Fair share between tenants.")

    @Option(help: "Virtual slots.") var slots = 2
    @Option(help: "Generation time of each job, in seconds.") var jobSeconds = 1.0
    @Option(help: "Jobs tenant a submits before tenant b's one.") var burst = 100
    @Option(help: "How long both tenants saturate the slots, in seconds.") var seconds = 120.0
    @Option(help: "The weight of tenant c in the saturation run (d's is 1).") var weightA = 1.0
    @Option(help: "Scratch folder.") var folder = FileManager.default.currentDirectoryPath + "/.build"

    func run() async throws {
        print("== Fair share: synthetic \(jobSeconds) s jobs on \(slots) virtual slots ==")
        let dir = "\(folder)/spool-bench-fairshare-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = 24
        let pipeline = PipelineDefinition(
            name: "synthetic",
            command: ["{bin}/spool-synthetic-worker", "--steps", "1", "--frame-cost-ms", String(jobSeconds * 1_000 / Double(frames))],
            chunking: .init(frames: 24), sizes: .init(default: FrameSize(width: 64, height: 48)),
            timeouts: .init(startupSeconds: 30, stallSeconds: 30))
        let configuration = SchedulerConfiguration(
            host: "bench", data: DataDirectory(dir), slots: (0..<slots).map(GPUSlot.virtual),
            encoder: EncoderSettings(preset: "ultrafast"), heartbeatSeconds: 1, pollSeconds: 0.25)
        let store = try SQLiteJobStore(path: "\(dir)/spool.sqlite")
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let host = try SpoolHost(store: store, pipelines: PipelineCatalog([pipeline]), configuration: configuration, logger: logger)
        host.dispatcher.claimPolicy.setTenants(["a": .init(), "b": .init(), "c": .init(weight: weightA), "d": .init()])
        let group = ServiceGroup(configuration: .init(services: host.services().map { .init(service: $0) }, logger: logger))
        let running = Task { try await group.run() }
        let a = host.operations.acting(for: Principal(tenant: "a", seesEveryone: false))
        let b = host.operations.acting(for: Principal(tenant: "b", seesEveryone: false))
        let spec = JobSpec(prompt: "bench", frames: frames)

        // 1. The burst.
        for _ in 0..<burst { _ = try await a.submit(spec) }
        let single = try await b.submit(spec).job.id
        while try await store.job(single)?.state.isFinal != true { try await Task.sleep(for: .milliseconds(20)) }
        let job = try await store.job(single)!
        let wait = try require2(job.timings.queueWait)
        let measuredJob = job.gpuSeconds
        report("b's one job behind a's \(burst): submit to start", wait, unit: "s", anchor: measuredJob,
               anchorName: "one job's slot time (b's own)", target: "ratio <= 1")
        print("  in queue order it would wait for \(burst) jobs on \(slots) slots: about \(String(format: "%.0f", Double(burst) / Double(slots) * measuredJob)) s")
        // Let a's burst drain before the saturation run.
        while try await store.count(JobQuery(states: [.queued, .running, .encoding])) > 0 { try await Task.sleep(for: .milliseconds(100)) }

        // 2. Saturation, by two fresh tenants (a's burst would count against a for a day):
        // both keep the queue full; slot time by tenant from the store.
        let c = host.operations.acting(for: Principal(tenant: "c", seesEveryone: false))
        let d = host.operations.acting(for: Principal(tenant: "d", seesEveryone: false))
        let since = Date()
        let started = ContinuousClock.now
        while elapsed(since: started) < seconds {
            for (tenant, operations) in [("c", c), ("d", d)] {
                let queued = try await store.count(JobQuery(states: [.queued], tenant: tenant))
                for _ in queued..<(2 * slots) { _ = try await operations.submit(spec) }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let usage = try await store.tenantUsage(since: since, now: Date())
        let share = { (tenant: String) in usage.first { $0.tenant == tenant }?.gpuSeconds ?? 0 }
        let total = share("c") + share("d")
        let expected = weightA / (weightA + 1)
        report("tenant c's share of slot time over \(Int(seconds)) s saturated (weight \(weightA) against 1)", share("c") / total, unit: "",
               anchor: expected, anchorName: "its weight's share", target: "within 5 %")
        print("  slot time: c \(String(format: "%.1f", share("c"))) s, d \(String(format: "%.1f", share("d"))) s")
        await group.triggerGracefulShutdown()
        try await running.value
    }
}

private func require2<T>(_ value: T?) throws -> T {
    guard let value else { throw ValidationError("a value the bench needs is missing") }
    return value
}
