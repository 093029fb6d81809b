import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// Checkpoints kept by a real daemon: a pipeline with `"checkpoints": true` (the synthetic
/// worker with `--checkpoints on`) has each state file copied durably into the job's
/// checkpoint folder and recorded on the job, which shows it; all of it goes when the job ends.
@Suite("Checkpoints, end to end", .serialized, .enabled(if: MediaProbe.toolsAvailable), .takesTurns)
struct CheckpointTests {
    static func pipelines(_ dir: TemporaryDirectory, overlap: Int = 0, policy: String = "drop") throws -> String {
        let folder = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let definition = """
            {
              "name": "checkpointed",
              "command": ["{bin}/spool-synthetic-worker", "--checkpoints", "on"],
              "chunking": { "frames": 8, "overlap": \(overlap), "overlapPolicy": "\(policy)" },
              "sizes": { "default": "64x48" },
              "checkpoints": true,
              "timeouts": { "startupSeconds": 30, "stallSeconds": 60 }
            }
            """
        try definition.write(toFile: folder + "/checkpointed.json", atomically: true, encoding: .utf8)
        return folder
    }

    // Chunks of 8 frames: after chunk 2 an attempt goes on from frame 24; overlapping by 2 (each
    // chunk starts 6 on), chunk 2 ends at 20 and the next chunk starts at 18.
    @Test(arguments: [(0, "drop", 24), (2, "blend", 18)])
    func aRunningJobShowsItsKeptCheckpointAndEndingRemovesIt(overlap: Int, policy: String, resumeFrame: Int) async throws {
        let dir = try TemporaryDirectory("checkpoints")
        defer { dir.remove() }
        let gate = try WorkerGate()
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: try Self.pipelines(dir, overlap: overlap, policy: policy),
            ["--default-pipeline", "checkpointed", "--checkpoints", dir.file("shared/checkpoints"), "--host", "host-a"],
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0", "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 3)])
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        let job = try await client.submit(JobSpec(prompt: "a fox", frames: 40, pipeline: "checkpointed")).job
        // Held before its fourth chunk: the third's checkpoint is the job's once its segments are durable.
        try await until("the job shows its checkpoint after chunk 2") { try await client.job(job.id).checkpoint?.chunk == 2 }
        let shown = try await client.job(job.id)
        #expect(shown.checkpoint?.frame == resumeFrame && shown.state == .running)
        let folder = dir.file("shared/checkpoints/\(job.id)")
        // The state the store names, the video kept a segment a chunk stride, the poster, and
        // (overlapping chunks) the overlap's raw frames; earlier states go once it is named.
        var expected: Set = ["state-a001-c00002", "segments-a001", "poster-a001.png"]
        if overlap > 0 { expected.insert("tail-a001-c00002.rgb") }
        try await until("the earlier checkpoints are removed") {
            Set(try FileManager.default.contentsOfDirectory(atPath: folder)).subtracting(["tail-a001-c00003.rgb"]) == expected
        }
        let segments = try FileManager.default.contentsOfDirectory(atPath: folder + "/segments-a001")
        #expect(Set(segments).isSuperset(of: ["init.mp4", "seg00000.m4s", "seg00001.m4s", "seg00002.m4s"]), "\(segments)")
        let state = try String(contentsOfFile: folder + "/state-a001-c00002", encoding: .utf8)
        #expect(state.contains("\"nextChunk\":3") || state.contains("\"next_chunk\":3"), "\(state)")
        let status = try runProcess([CLITests.spool, "status", job.id, "--server", try await daemon.httpURL()]).stdoutText
        #expect(status.contains("checkpoint after chunk 2 (frames 0-\(resumeFrame - 1) final)"), "\(status)")

        // The attempt's files are its own until it wins: named by host and attempt, and no poster
        // at the job's own name while it runs (a stale attempt must never write over a winner's).
        let videos = dir.file("data/videos")
        let own = [".\(job.id).host-a.a1.mp4.part", ".\(job.id).host-a.a1.png.part"]
        try await until("the attempt's own files are written") {
            Set((try? FileManager.default.contentsOfDirectory(atPath: videos)) ?? []).isSuperset(of: own)
        }
        let running = Set(try FileManager.default.contentsOfDirectory(atPath: videos))
        #expect(!running.contains("\(job.id).png") && !running.contains("\(job.id).mp4"), "\(running)")
        #expect(try await client.job(job.id).state == .running)

        gate.open()
        try await until("the job succeeded") { try await client.job(job.id).state == .succeeded }
        let done = Set(try FileManager.default.contentsOfDirectory(atPath: videos)).subtracting([".checkpoints", ".live", ".inputs"])
        #expect(done == ["\(job.id).mp4", "\(job.id).png"], "\(done)")
        #expect(try await client.job(job.id).checkpoint == nil)
        try await until("its checkpoints are removed") { !FileManager.default.fileExists(atPath: folder) }
    }

    // MARK: Resume

    /// A daemon on one slot whose synthetic workers stop before chunk `holdAt` (nil: never),
    /// on the data and checkpoints of `dir`; its log is its own.
    static func daemon(
        _ dir: TemporaryDirectory, _ pipelines: String, holdAt: Int?, gate: WorkerGate, log: String
    ) throws -> DaemonProcess {
        var environment = ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"]
        if let holdAt { environment["SPOOL_SYNTHETIC_GATE"] = gate.environmentValue(fromChunk: holdAt) }
        return try DaemonProcess.onOneSlot(
            dir, pipelines: pipelines,
            ["--default-pipeline", "checkpointed", "--checkpoints", dir.file("shared/checkpoints"), "--host", "host-a",
             "--max-attempts", "5"],
            environment: environment, log: log)
    }

    /// Each frame's MD5 as ffmpeg decodes it (`framemd5`): the pictures, not the bytes of the file.
    static func frameHashes(_ path: String) throws -> [String] {
        let result = try runProcess(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdoutText.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.split(separator: ",").last ?? "") }
    }

    /// The job run whole, without interruption, in `daemon`: what a resumed run must decode to.
    static func uninterrupted(_ spec: JobSpec, _ client: SpoolClient) async throws -> [String] {
        let job = try await client.submit(spec).job
        try await until("the uninterrupted run succeeded") { try await client.job(job.id).state == .succeeded }
        return try frameHashes(try #require(try await client.job(job.id).videoPath))
    }

    /// Kills the daemon with SIGKILL while its job is held after `checkpoint` chunks, `kills`
    /// times, restarting it each time; then compares the finished video with an uninterrupted
    /// run's, frame by frame. `damage` breaks the kept checkpoint between a kill and the restart.
    func resumeAfterKills(
        overlap: Int = 0, policy: String = "drop", holds: [Int], damage: ((String) throws -> Void)? = nil
    ) async throws -> (attempts: AttemptList, hashes: [String], expected: [String], probe: MediaProbe) {
        let dir = try TemporaryDirectory("resume")
        defer { dir.remove() }
        let pipelines = try Self.pipelines(dir, overlap: overlap, policy: policy)
        let gate = try WorkerGate()
        let spec = JobSpec(prompt: "a fox", frames: 40, seed: 7, pipeline: "checkpointed")
        var daemon = try Self.daemon(dir, pipelines, holdAt: holds[0], gate: gate, log: "daemon-0.log")
        var client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        let job = try await client.submit(spec).job
        for (index, hold) in holds.enumerated() {
            let client0 = client
            try await until("the job's checkpoint is after chunk \(hold - 1)") {
                try await client0.job(job.id).checkpoint?.chunk == hold - 1
            }
            daemon.kill9()
            if let damage { try damage(dir.file("shared/checkpoints/\(job.id)")) }
            let next = index + 1 < holds.count ? holds[index + 1] : nil
            daemon = try Self.daemon(dir, pipelines, holdAt: next, gate: gate, log: "daemon-\(index + 1).log")
            client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        }
        defer { daemon.stop() }
        let client1 = client
        try await until("the job succeeded") { try await client1.job(job.id).state == .succeeded }
        let path = try #require(try await client.job(job.id).videoPath)
        let hashes = try Self.frameHashes(path)
        let probe = try MediaProbe(path: path)
        let attempts = try await client.attempts(job.id)
        let expected = try await Self.uninterrupted(spec, client)
        return (attempts, hashes, expected, probe)
    }

    @Test(arguments: [(0, "drop"), (2, "blend"), (3, "drop")])
    func aJobWhoseHostIsKilledResumesFromItsCheckpointToTheSameFrames(overlap: Int, policy: String) async throws {
        let run = try await resumeAfterKills(overlap: overlap, policy: policy, holds: [3])
        #expect(run.hashes.count == 40 && run.hashes == run.expected, "the resumed video decodes to the uninterrupted run's frames")
        #expect(run.probe.frames == 40 && run.probe.streamDuration == "1.666667", "\(run.probe)")
        let attempts = run.attempts.attempts
        #expect(attempts.map(\.outcome) == [.lost, .generated], "\(attempts)")
        let stride = 8 - overlap
        #expect(attempts.last?.resumedFromFrame == 3 * stride && attempts.last?.resumeNote == nil)
    }

    @Test func aJobResumedTwiceStillDecodesToTheUninterruptedRunsFrames() async throws {
        let run = try await resumeAfterKills(holds: [2, 4])
        #expect(run.hashes == run.expected)
        #expect(run.attempts.attempts.map(\.resumedFromFrame) == [nil, 16, 32], "\(run.attempts.attempts)")
    }

    @Test func aDeletedSegmentRestartsTheJobFromFrameZeroAndSaysWhy() async throws {
        let run = try await resumeAfterKills(holds: [3]) { folder in
            try FileManager.default.removeItem(atPath: folder + "/segments-a001/seg00001.m4s")
        }
        #expect(run.hashes == run.expected)
        let last = try #require(run.attempts.attempts.last)
        #expect(last.resumedFromFrame == nil)
        #expect(last.resumeNote?.contains("seg00001.m4s") == true, "\(last)")
    }

    @Test func aCorruptStateFileIsRefusedByTheWorkerAndTheNextAttemptStartsOver() async throws {
        let run = try await resumeAfterKills(holds: [3]) { folder in
            try Data("not the worker's state".utf8).write(to: URL(fileURLWithPath: folder + "/state-a001-c00002"))
        }
        #expect(run.hashes == run.expected)
        let attempts = run.attempts.attempts
        try #require(attempts.map(\.outcome) == [.lost, .failed, .generated], "\(attempts)")
        #expect(attempts[1].resumedFromFrame == 24 && attempts[1].error?.contains("cannot resume") == true, "\(attempts[1])")
        #expect(attempts[2].resumedFromFrame == nil && attempts[2].resumeNote == nil)
    }

    // MARK: Drain

    @Test func onSIGTERMARunningJobGoesBackToTheQueueAtItsNextCheckpointAndTheNextStartResumesIt() async throws {
        let dir = try TemporaryDirectory("drain")
        defer { dir.remove() }
        let pipelines = try Self.pipelines(dir)
        let gate = try WorkerGate()
        let later = try WorkerGate()
        let spec = JobSpec(prompt: "a fox", frames: 40, seed: 7, pipeline: "checkpointed")
        // A grace far longer than the test: the host must not wait for it.
        func start(_ log: String, holdAt: Int?) throws -> DaemonProcess {
            var environment = ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"]
            // Held before chunk 3, and (once that gate opens) before chunk 4: the drain's
            // checkpoint is chunk 3's, whenever the store takes it.
            if let holdAt {
                environment["SPOOL_SYNTHETIC_GATE"] = gate.environmentValue(fromChunk: holdAt) + ";" + later.environmentValue(fromChunk: holdAt + 1)
            }
            return try DaemonProcess.onOneSlot(
                dir, pipelines: pipelines,
                ["--default-pipeline", "checkpointed", "--checkpoints", dir.file("shared/checkpoints"), "--host", "host-a",
                 "--shutdown-grace", "3600", "--max-attempts", "1"],
                environment: environment, log: log)
        }
        let first = try start("daemon-0.log", holdAt: 3)
        let client = SpoolClient(server: URL(string: try await first.httpURL())!)
        let job = try await client.submit(spec).job
        try await until("the job's checkpoint is after chunk 2") { try await client.job(job.id).checkpoint?.chunk == 2 }
        first.send(SIGTERM)
        try await first.waitForLog("go back to the queue at their next checkpoint")
        // The worker goes on to chunk 3; its checkpoint in the store, the attempt stops there.
        gate.open()
        try await until("the draining host exits") { !first.process.isRunning }
        #expect(first.process.terminationStatus == 0, "\(first.output.suffix(2_000))")

        let second = try start("daemon-1.log", holdAt: nil)
        defer { second.stop() }
        let client2 = SpoolClient(server: URL(string: try await second.httpURL())!)
        try await until("the job succeeded") { try await client2.job(job.id).state == .succeeded }
        let attempts = try await client2.attempts(job.id).attempts
        #expect(attempts.map(\.outcome) == [.interrupted, .generated], "\(attempts)")
        #expect(attempts.first?.error?.contains("interrupted") == true, "\(attempts)")
        // One attempt allowed, two made: the interrupted one was not counted.
        #expect(try await client2.job(job.id).sparedAttempts == 1)
        // The drain stops the attempt at the first checkpoint the attempt hears committed after
        // SIGTERM: chunk 3's as a rule, or chunk 2's when its commit reached the store (and the
        // test's read) but not yet the attempt when the signal came, as a fresh-clone run under
        // load showed. Either is durable; the frames below are the uninterrupted run's either way.
        #expect([24, 32].contains(attempts.last?.resumedFromFrame ?? -1), "\(attempts)")
        let hashes = try Self.frameHashes(try #require(try await client2.job(job.id).videoPath))
        #expect(try await hashes == Self.uninterrupted(spec, client2))
    }

    /// `--preempt-after`: a high-priority job that waited while the only slot ran a
    /// low-priority one takes the slot at that job's next checkpoint; the preempted job waits
    /// saying why, then resumes from its checkpoint to the frames of an uninterrupted run. With
    /// one attempt allowed, the preempted attempt is not counted.
    @Test func aHighPriorityJobThatWaitedPreemptsTheRunningOneAtItsNextCheckpoint() async throws {
        let dir = try TemporaryDirectory("preempt")
        defer { dir.remove() }
        let gate = try WorkerGate()
        let later = try WorkerGate()
        // Every worker stops before chunk 3 until `gate` opens, and before chunk 4 until `later` does.
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: try Self.pipelines(dir),
            ["--default-pipeline", "checkpointed", "--checkpoints", dir.file("shared/checkpoints"), "--host", "host-a",
             "--preempt-after", "1", "--max-attempts", "1"],
            environment: [
                "SPOOL_SYNTHETIC_FRAME_COST_MS": "0",
                "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 3) + ";" + later.environmentValue(fromChunk: 4),
            ])
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        let lowSpec = JobSpec(prompt: "a fox", frames: 40, seed: 7, pipeline: "checkpointed", priority: 0)
        let low = try await client.submit(lowSpec).job
        try await until("the low-priority job's checkpoint is after chunk 2") { try await client.job(low.id).checkpoint?.chunk == 2 }
        let high = try await client.submit(JobSpec(prompt: "an owl", frames: 40, seed: 9, pipeline: "checkpointed", priority: 10)).job
        try await daemon.waitForLog("preempting at the next checkpoint")
        // Asked, not stopped: the running job goes on to its next checkpoint first.
        #expect(try await client.job(low.id).state == .running)
        #expect(try await client.job(high.id).state == .queued)
        gate.open()
        // The slot is released when generation ends, before the preempted attempt's ending is
        // written: for a moment both jobs read `running`. Wait for both states.
        try await until("the high-priority job has the slot and the preempted one waits") {
            let (h, l) = (try await client.job(high.id).state, try await client.job(low.id).state)
            return h == .running && l == .queued
        }
        let waiting = try await client.job(low.id)
        #expect(waiting.waitingReason?.contains("preempted by job \(high.id) (priority 10)") == true, "\(waiting)")
        #expect(waiting.checkpoint?.chunk == 3, "\(waiting)")
        let status = try runProcess([CLITests.spool, "status", low.id, "--server", try await daemon.httpURL()]).stdoutText
        #expect(status.contains("preempted by job \(high.id)") && status.contains("1 not counted"), "\(status)")
        later.open()
        // Both: the high-priority job's encode tail may still run when the preempted one ends.
        try await until("both jobs succeeded") {
            let (l, h) = (try await client.job(low.id).state, try await client.job(high.id).state)
            return l == .succeeded && h == .succeeded
        }
        let highDone = try await client.job(high.id)
        #expect(highDone.state == .succeeded && highDone.attempts == 1, "\(highDone)")
        let lowDone = try await client.job(low.id)
        #expect(lowDone.attempts == 2 && lowDone.sparedAttempts == 1, "\(lowDone)")
        let attempts = try await client.attempts(low.id).attempts
        #expect(attempts.map(\.outcome) == [.preempted, .generated], "\(attempts)")
        #expect(attempts.first?.error?.contains("preempted by job \(high.id)") == true, "\(attempts)")
        #expect(attempts.last?.resumedFromFrame == 32, "\(attempts)")
        let hashes = try Self.frameHashes(try #require(lowDone.videoPath))
        #expect(try await hashes == Self.uninterrupted(lowSpec, client))
    }
}
