import Foundation
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolScheduler
import SpoolSQLite
import SpoolTesting
import Testing

@Suite("Dispatcher and job lifecycle", .serialized)
struct DispatcherTests {
    @Test func aJobRunsEndToEndAndRecordsEveryStage() async throws {
        let host = try await TestHost(frameCostMilliseconds: 5)
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 30)
        let done = try await host.wait(for: job.id, state: .succeeded)
        #expect(done.attempts == 1)
        #expect(done.gpu == "virtual0" && done.host == "test-host")
        let t = done.timings
        #expect(t.queueWait != nil && t.timeToFirstChunk != nil && t.generationTime != nil && t.encodeTail != nil)
        #expect(t.startedAt! <= t.firstChunkAt! && t.firstChunkAt! <= t.generatedAt! && t.generatedAt! <= t.encodedAt!)
        #expect(t.encodedAt! <= t.finishedAt!)
        // 30 frames at 5 ms each: generation takes at least 150 ms of "GPU" time.
        #expect(done.gpuSeconds >= 0.15)
        #expect(abs(done.gpuSeconds - t.generationTime!) < 0.05)
        #expect(done.realTimeFactor != nil)
        #expect(done.progress.framesDone == 30 && done.progress.chunksDone == 4 && done.progress.chunksTotal == 4)
        let video = try #require(done.outputPath)
        #expect(try MediaProbe(path: video).frames == 30)
        #expect(FileManager.default.fileExists(atPath: try #require(done.posterPath)))
        #expect(try await host.store.attempts(of: job.id).map(\.outcome) == [.generated])
        // The attempt's work folder is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: host.host.configuration.data.work).isEmpty)
    }

    @Test func higherPriorityRunsFirstThenOlder() async throws {
        // The blocker holds the only slot until the gate opens, once the rest are queued.
        let gate = try WorkerGate()
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.synthetic(name: "gated", gate: gate)])
        defer { Task { await host.stop() } }
        let blocker = try await host.submit(frames: 8, pipeline: "gated")
        try await host.wait(for: blocker.id, state: .running)
        let low = try await host.submit(frames: 8, priority: -5)
        let first = try await host.submit(frames: 8)
        let high = try await host.submit(frames: 8, priority: 10)
        let second = try await host.submit(frames: 8)
        #expect(try await host.store.queuePosition(of: high.id) == 1)
        #expect(try await host.store.queuePosition(of: low.id) == 4)
        gate.open()
        var started: [(JobID, Date)] = []
        for job in [low, first, high, second] {
            let done = try await host.wait(for: job.id, state: .succeeded)
            started.append((job.id, done.timings.startedAt!))
        }
        let order = started.sorted { $0.1 < $1.1 }.map(\.0)
        #expect(order == [high.id, first.id, second.id, low.id])
    }

    @Test func twoJobsNeverShareASlot() async throws {
        let host = try await TestHost(slots: 2, frameCostMilliseconds: 2)
        defer { Task { await host.stop() } }
        var ids: [JobID] = []
        for _ in 0..<8 { ids.append(try await host.submit(frames: 16).id) }
        var attempts: [Attempt] = []
        for id in ids {
            try await host.wait(for: id, state: .succeeded)
            attempts += try await host.store.attempts(of: id)
        }
        for slot in ["virtual0", "virtual1"] {
            let onSlot = attempts.filter { $0.gpu == slot }.sorted { $0.startedAt < $1.startedAt }
            for (a, b) in zip(onSlot, onSlot.dropFirst()) {
                #expect(a.endedAt! <= b.startedAt, "\(slot): attempts overlap")
            }
        }
        #expect(Set(attempts.map(\.gpu)) == ["virtual0", "virtual1"])
    }

    @Test func cancellingAQueuedJobMeansItNeverRuns() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.synthetic(name: "gated", gate: gate)])
        defer { Task { await host.stop() } }
        let blocker = try await host.submit(frames: 8, pipeline: "gated")
        try await host.wait(for: blocker.id, state: .running)
        let queued = try await host.submit(frames: 8)
        let cancelled = try await host.host.dispatcher.cancel(queued.id)
        #expect(cancelled.state == .cancelled)
        let next = try await host.submit(frames: 8)
        gate.open()
        try await host.wait(for: blocker.id, state: .succeeded)
        // The job submitted after it ran: the dispatcher went past the cancelled one.
        try await host.wait(for: next.id, state: .succeeded)
        let after = try #require(try await host.store.job(queued.id))
        #expect(after.state == .cancelled && after.attempts == 0)
        await #expect(throws: SpoolError.illegalTransition(job: queued.id, from: .cancelled, to: .cancelled)) {
            try await host.host.dispatcher.cancel(queued.id)
        }
    }

    @Test func cancellingARunningJobKillsItsWorkerAndFreesTheSlot() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.synthetic(name: "gated", gate: gate, gateFromChunk: 1)])
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 400, pipeline: "gated")
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }
        let group = try workerGroup(host, job.id)
        try await host.host.dispatcher.cancel(job.id)
        try await until("the slot is free again") { await !host.host.dispatcher.freeSlots.isEmpty }
        #expect(WorkerLauncher.liveProcesses(inGroup: group) == 0, "the worker's process group was killed")
        let next = try await host.submit(frames: 8)
        try await host.wait(for: next.id, state: .succeeded)
        let cancelled = try #require(try await host.store.job(job.id))
        #expect(cancelled.state == .cancelled)
        // The attempt's books close once its encoder has stopped, which a loaded machine can
        // leave until after the next job is done: wait for that, not for the next job.
        try await until("the cancelled attempt is closed") {
            try await host.store.attempts(of: job.id).first?.outcome == .cancelled
        }
        let attempt = try #require(try await host.store.attempts(of: job.id).first)
        let closed = try #require(try await host.store.job(job.id))
        #expect(attempt.gpuSeconds > 0 && closed.gpuSeconds == attempt.gpuSeconds)
        #expect(closed.outputPath == nil)
    }

    @Test func aWorkerTooFarAheadOfItsEncoderIsHeldAndTheJobStillFinishesWhole() async throws {
        // The encoder cannot encode until its gate opens; the bound is two 8-frame chunks of
        // 64x48, so the worker is stopped once its third chunk is handed over. The worker's
        // own gate keeps it from finishing (and exiting) before then however fast it runs;
        // opened while the worker is stopped, it changes nothing until Spool resumes it.
        let gate = GatedEncoderFactory(wrapping: FFmpegEncoderFactory(settings: .init(preset: "ultrafast")))
        let workerGate = try WorkerGate()
        let host = try await TestHost(pipelines: [Fixtures.synthetic(name: "gated", gate: workerGate, gateFromChunk: 4)], encoders: gate) {
            $0.rawBacklogBytes = 2 * 8 * FrameSize(width: 64, height: 48).rgb24FrameBytes
        }
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 64, pipeline: "gated")
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 3 }
        let group = try workerGroup(host, job.id)
        try await until("the worker is stopped (SIGSTOP)") { processState(group) == "T" }
        let stoppedAt = ContinuousClock.now
        workerGate.open()
        let workDir = attemptFolder(host, job.id) + "/attempt-1"
        let chunksThen = try FileManager.default.contentsOfDirectory(atPath: workDir).filter { $0.hasPrefix("chunk-") }
        // The encoder cannot catch up while its gate is shut, so nothing lets the worker go
        // on: it is still stopped, and has written nothing more.
        let held = try #require(try await host.store.job(job.id))
        #expect(held.state == .running && held.progress.chunksDone < 8)
        #expect(processState(group) == "T")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workDir).filter { $0.hasPrefix("chunk-") } == chunksThen)
        gate.open()
        let done = try await host.wait(for: job.id, state: .succeeded)
        let heldFor = (ContinuousClock.now - stoppedAt).seconds
        #expect(done.progress.chunksDone == 8)
        #expect(try MediaProbe(path: try #require(done.outputPath)).frames == 64)
        // The slot was held while the worker waited: that time is the job's GPU time.
        #expect(done.gpuSeconds >= min(heldFor, done.timings.generationTime ?? 0) - 0.05)
    }

    @Test func aFailedAttemptIsRetriedWithBackoffThenSucceeds() async throws {
        let flaky = Fixtures.synthetic(name: "flaky", arguments: ["--fault", "fail-attempts-below:3"])
        let host = try await TestHost(pipelines: [flaky])
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 16, pipeline: "flaky")
        let done = try await host.wait(for: job.id, state: .succeeded)
        #expect(done.attempts == 3)
        #expect(done.error == nil)
        let attempts = try await host.store.attempts(of: job.id)
        #expect(attempts.map(\.outcome) == [.failed, .failed, .generated])
        #expect(attempts[0].error?.contains("exited with status 4") == true)
        // Backoff: attempt 2 waited at least 0.05 s after attempt 1 ended, attempt 3 0.1 s after 2.
        #expect(attempts[1].startedAt.timeIntervalSince(attempts[0].endedAt!) >= 0.05)
        #expect(attempts[2].startedAt.timeIntervalSince(attempts[1].endedAt!) >= 0.1)
        #expect(abs(done.gpuSeconds - attempts.map(\.gpuSeconds).reduce(0, +)) < 1e-9)
    }

    @Test func aJobFailsOnceItsAttemptsAreUsedUp() async throws {
        let broken = Fixtures.synthetic(name: "broken", arguments: ["--fault", "crash-at:1"])
        let host = try await TestHost(pipelines: [broken], maxAttempts: 2)
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 24, pipeline: "broken")
        let failed = try await host.wait(for: job.id, state: .failed)
        #expect(failed.attempts == 2)
        let error = try #require(failed.error)
        #expect(error.contains("attempt 2 of 2 failed: the worker crashed after chunk 0: killed by signal 6"), "\(error)")
        #expect(error.contains("synthetic fault: crashing at chunk 1"))
        #expect(try await host.store.attempts(of: job.id).map(\.outcome) == [.failed, .failed])
        // The daemon carries on: the next job runs.
        let next = try await host.submit(frames: 8)
        try await host.wait(for: next.id, state: .succeeded)
    }

    @Test func theTimeLimitFailsAJobWithoutRetrying() async throws {
        // A gate never opened: the job cannot finish, so only the time limit can end it.
        let gate = try WorkerGate()
        let host = try await TestHost(pipelines: [Fixtures.synthetic(name: "gated", gate: gate, gateFromChunk: 1)])
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 400, pipeline: "gated", timeLimit: 0.5)
        let failed = try await host.wait(for: job.id, state: .failed)
        #expect(failed.attempts == 1)
        #expect(failed.error == "the job's time limit of 0.5 s ran out")
    }

    @Test func aBadChunkStreamFailsTheAttemptNamingTheChunk() async throws {
        let short = Fixtures.synthetic(name: "short", arguments: ["--fault", "short-chunk:1"])
        let host = try await TestHost(pipelines: [short], maxAttempts: 1)
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 24, pipeline: "short")
        let failed = try await host.wait(for: job.id, state: .failed)
        #expect(failed.error?.contains("chunk 1 file chunk-00001.rgb is") == true, "\(failed.error ?? "")")
        #expect(!FileManager.default.fileExists(atPath: "\(host.host.configuration.data.videos)/\(job.id).mp4"))
    }

    @Test func aCUDAPipelineIsNeverPlacedOnAVirtualSlotAndSaysWhy() async throws {
        let cuda = Fixtures.synthetic(name: "gpu-only", requiresCUDA: true)
        let host = try await TestHost(pipelines: [cuda])
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 8, pipeline: "gpu-only")
        #expect(job.waitingReason?.contains("pipeline gpu-only needs a CUDA GPU and host test-host has none") == true)
        let other = try await host.submit(frames: 8)
        try await host.wait(for: other.id, state: .succeeded)
        #expect(try await host.store.job(job.id)?.state == .queued)
    }

    @Test func gracefulShutdownLetsRunningJobsFinishWithinTheGrace() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.synthetic(name: "gated", gate: gate)], shutdownGrace: 600)
        let job = try await host.submit(frames: 8, pipeline: "gated")
        let queued = try await host.submit(frames: 8)
        try await host.wait(for: job.id, state: .running)
        let shutdown = Task { try await host.shutDown() }
        try await until("the dispatcher drains") { await host.host.dispatcher.isDraining }
        gate.open()
        try await shutdown.value
        #expect(try await host.store.job(job.id)?.state == .succeeded)
        // Nothing new started while draining.
        let untouched = try #require(try await host.store.job(queued.id))
        #expect(untouched.state == .queued && untouched.attempts == 0)
        host.directory.remove()
    }

    @Test func gracefulShutdownRequeuesWhatOutlastsTheGrace() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.synthetic(name: "gated", gate: gate)], shutdownGrace: 0.2)
        let long = try await host.submit(frames: 8, pipeline: "gated")
        try await host.wait(for: long.id, state: .running)
        try await host.shutDown()
        let requeued = try #require(try await host.store.job(long.id))
        #expect(requeued.state == .queued)
        #expect(requeued.error?.contains("interrupted: host test-host shut down") == true)
        #expect(try await host.store.attempts(of: long.id).map(\.outcome) == [.interrupted])
        host.directory.remove()
    }

    /// An attempt's own folder under the work folder: `<job>.<host>.a<N>`.
    func attemptFolder(_ host: TestHost, _ id: JobID, attempt: Int = 1) -> String {
        "\(host.host.configuration.data.work)/\(id).\(DataDirectory.attemptName(host: host.host.configuration.host, attempt: attempt))"
    }

    /// The process group of a job's running worker (its first attempt), read from the
    /// record the dispatcher keeps for the orphan reaper.
    func workerGroup(_ host: TestHost, _ id: JobID, attempt: Int = 1) throws -> Int32 {
        let file = attemptFolder(host, id, attempt: attempt) + "/attempt-\(attempt).pgid"
        return try #require(Int32(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
