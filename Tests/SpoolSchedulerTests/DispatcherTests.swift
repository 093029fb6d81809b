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
        let host = try await TestHost(slots: 1, frameCostMilliseconds: 10)
        defer { Task { await host.stop() } }
        // The blocker holds the slot for 2 s: time to submit the rest on a loaded machine.
        let blocker = try await host.submit(frames: 200)
        try await host.wait(for: blocker.id, state: .running)
        let low = try await host.submit(frames: 8, priority: -5)
        let first = try await host.submit(frames: 8)
        let high = try await host.submit(frames: 8, priority: 10)
        let second = try await host.submit(frames: 8)
        #expect(try await host.store.queuePosition(of: high.id) == 1)
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
        let host = try await TestHost(slots: 1, frameCostMilliseconds: 10)
        defer { Task { await host.stop() } }
        let blocker = try await host.submit(frames: 40)
        try await host.wait(for: blocker.id, state: .running)
        let queued = try await host.submit(frames: 8)
        let cancelled = try await host.host.dispatcher.cancel(queued.id)
        #expect(cancelled.state == .cancelled)
        try await host.wait(for: blocker.id, state: .succeeded)
        try await Task.sleep(for: .milliseconds(200))
        let after = try #require(try await host.store.job(queued.id))
        #expect(after.state == .cancelled && after.attempts == 0)
        await #expect(throws: SpoolError.illegalTransition(job: queued.id, from: .cancelled, to: .cancelled)) {
            try await host.host.dispatcher.cancel(queued.id)
        }
    }

    @Test func cancellingARunningJobKillsItsWorkerAndFreesTheSlotWithinASecond() async throws {
        let host = try await TestHost(slots: 1, frameCostMilliseconds: 50)
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 400)
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }
        let before = Date()
        try await host.host.dispatcher.cancel(job.id)
        while await host.host.dispatcher.freeSlots.isEmpty {
            #expect(Date().timeIntervalSince(before) < 1, "the slot is still busy a second after cancel")
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(Date().timeIntervalSince(before) < 1)
        let next = try await host.submit(frames: 8)
        try await host.wait(for: next.id, state: .running, timeout: 2)
        let cancelled = try #require(try await host.store.job(job.id))
        #expect(cancelled.state == .cancelled)
        let attempt = try #require(try await host.store.attempts(of: job.id).first)
        #expect(attempt.outcome == .cancelled)
        #expect(attempt.gpuSeconds > 0 && cancelled.gpuSeconds == attempt.gpuSeconds)
        #expect(cancelled.outputPath == nil)
    }

    @Test func aWorkerTooFarAheadOfItsEncoderIsHeldAndTheJobStillFinishesWhole() async throws {
        // The encoder cannot encode until the gate opens; the bound is two 8-frame chunks of
        // 64x48, so the worker (50 ms a frame, 400 ms a chunk) is stopped once its third chunk
        // is handed over.
        let gate = GatedEncoderFactory(wrapping: FFmpegEncoderFactory(settings: .init(preset: "ultrafast")))
        let host = try await TestHost(frameCostMilliseconds: 50, encoders: gate) {
            $0.rawBacklogBytes = 2 * 8 * FrameSize(width: 64, height: 48).rgb24FrameBytes
        }
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 64)
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 3 }
        try await Task.sleep(for: .seconds(1.5))
        // Unheld, the worker would have written at least 3 more chunks in those 1.5 s.
        let held = try #require(try await host.store.job(job.id))
        #expect(held.state == .running)
        #expect(held.progress.chunksDone <= 4, "\(held.progress.chunksDone) chunks written while held")
        gate.open()
        let done = try await host.wait(for: job.id, state: .succeeded)
        #expect(done.progress.chunksDone == 8)
        #expect(try MediaProbe(path: try #require(done.outputPath)).frames == 64)
        // The slot was held while the worker waited: that time is the job's GPU time.
        #expect(done.gpuSeconds >= 1.5)
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
        let host = try await TestHost(frameCostMilliseconds: 20)
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 400, timeLimit: 0.5)
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

    @Test func gracefulShutdownLetsShortJobsFinishAndRequeuesTheRest() async throws {
        let host = try await TestHost(slots: 2, frameCostMilliseconds: 20, shutdownGrace: 0.6)
        let short = try await host.submit(frames: 8)
        let long = try await host.submit(frames: 400)
        try await host.wait(for: long.id, state: .running)
        try await host.wait(for: short.id, state: .running)
        try await host.shutDown()
        #expect(try await host.store.job(short.id)?.state == .succeeded)
        let requeued = try #require(try await host.store.job(long.id))
        #expect(requeued.state == .queued)
        #expect(requeued.error?.contains("interrupted: host test-host shut down") == true)
        #expect(try await host.store.attempts(of: long.id).map(\.outcome) == [.interrupted])
        host.directory.remove()
    }
}
