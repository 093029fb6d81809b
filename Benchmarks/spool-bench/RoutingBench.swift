import ArgumentParser
import Foundation
import SpoolCore
import SpoolPostgres
import SpoolScheduler
import SpoolSQLite
import SpoolTesting

/// What routing adds to a submission (issue 30): a routed job reads the pipelines' recent
/// attempts (one indexed read of up to 5,000 rows) and weighs each candidate; the anchor is
/// the same job naming its pipeline, submitted to the same store in the same run.
struct RoutingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "routing", abstract: "A routed submission against a named one.")

    @Option(help: "Submissions of each kind.") var jobs = 400
    @Option(help: "Ended attempts in the store's history (the router reads at most 5,000).") var history = 5_000
    @Option(help: "Folder for the SQLite database.") var folder = FileManager.default.currentDirectoryPath + "/.build"

    func run() async throws {
        print("== Routing: a routed submission against a named one ==")
        let dir = "\(folder)/spool-bench-routing-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await measure("SQLite", try SQLiteJobStore(path: dir + "/bench.sqlite"), dir: dir)
        // PostgreSQL too where $SPOOL_TEST_POSTGRES names a server.
        guard PostgresTestServer.url != nil else { return }
        let store = try await PostgresJobStore.connect(try await PostgresTestServer.createDatabase())
        let pool = Task.immediate { await store.run() }
        defer { pool.cancel() }
        try await measure("PostgreSQL", store, dir: dir)
    }

    func measure(_ name: String, _ store: any JobStore, dir: String) async throws {
        let names = ["fast", "good", "best"]
        var catalog = PipelineCatalog(names.map { name in
            PipelineDefinition(
                name: name, command: ["true"], chunking: .init(frames: 33), sizes: .init(default: FrameSize(width: 640, height: 384)),
                prior: .init(gpuSecondsPerVideoSecond: 2))
        })
        catalog.routes = RouteTable(tiers: [.draft: names, .standard: names, .best: names.reversed()])
        // The history: attempts that ended one a second (a busy fleet's pace), a third on each
        // pipeline, one in ten failed.
        let clock = ManualWallClock()
        var made = 0
        while made < history {
            let batch = (0..<min(500, history - made)).map { index in
                EnqueueRequest(
                    spec: JobSpec(prompt: "history", frames: 48, width: 640, height: 384, seed: 1, pipeline: names[(made + index) % 3]),
                    maxAttempts: 1, submittedAt: clock.now())
            }
            _ = try await store.enqueueAll(batch)
            for index in batch.indices {
                guard let job = try await store.claimNext(ClaimRequest(
                    host: "bench", gpu: "gpu0", pipelines: Set(names), now: clock.now(), leaseUntil: clock.now().addingTimeInterval(30)))
                else { break }
                clock.advance(by: 1)
                let failed = (made + index) % 10 == 0
                _ = try await store.update(job.id, to: failed ? .failed : .encoding, JobUpdate(
                    attempt: job.attempts, at: clock.now(), error: failed ? "bench" : nil, endAttempt: failed ? .failed : .generated,
                    attemptGPUSeconds: 4, attemptPipeline: job.pipeline))
            }
            made += batch.count
        }
        let configuration = SchedulerConfiguration(
            host: "bench", data: DataDirectory(dir), slots: [.virtual(0)], defaultPipeline: "fast")
        let submitter = JobSubmitter(store: store, pipelines: catalog, configuration: configuration, clock: clock)
        func submit(_ spec: JobSpec) async throws -> Double {
            let start = ContinuousClock.now
            for _ in 0..<jobs { _ = try await submitter.submit(spec) }
            return Double(jobs) / elapsed(since: start)
        }
        // The first routed job reads the whole window; the rest only what ended since.
        let first = ContinuousClock.now
        _ = try await submitter.submit(JobSpec(prompt: "a bench", frames: 48, pipeline: "auto", tier: .draft))
        report("\(name): the first routed submission, reading \(history) attempts", elapsed(since: first) * 1_000, unit: "ms")
        let named = try await submit(JobSpec(prompt: "a bench", frames: 48, pipeline: "fast"))
        let routed = try await submit(JobSpec(prompt: "a bench", frames: 48, pipeline: "auto", tier: .draft, deadlineSeconds: 3_600))
        report("\(name): routed submissions, one at a time, \(history) attempts of history", routed, unit: "/s",
               anchor: named, anchorName: "the same job naming its pipeline")
        report("\(name): time a routed submission adds", 1_000 / routed - 1_000 / named, unit: "ms")
    }
}
