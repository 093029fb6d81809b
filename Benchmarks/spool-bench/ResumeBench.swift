import ArgumentParser
import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolSQLite
import SpoolTesting

/// What checkpoints save, on real `spool serve` processes and the synthetic worker, in one run:
///
/// 1. a long job killed (SIGKILL of its host) at about 75 % and its host restarted: its total
///    slot time with resume, against the same job uninterrupted, and against the same kill
///    with a pipeline that keeps no checkpoints (today's restart from frame 0);
/// 2. SIGTERM to a host running two such jobs: until both are back in the queue, against one
///    chunk's generation;
/// 3. `--preempt-after`: a high-priority job submitted while the only slot runs such a job:
///    its wait past the threshold, against one chunk's generation and the host's check interval.
struct ResumeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Checkpoints: resume after a kill, drain on SIGTERM.")

    @Option(help: "Frames a job (60 s at 24 FPS).") var frames = 1_440
    @Option(help: "Generation time a frame, in milliseconds.") var frameCost = 10.0
    @Option(help: "Frame size.") var size = "128x72"
    @Option(help: "Scratch folder.") var folder = FileManager.default.currentDirectoryPath + "/.build"

    /// Helios-shaped chunks: 33 frames, no overlap.
    static let chunkFrames = 33

    func run() async throws {
        let chunks = (frames + Self.chunkFrames - 1) / Self.chunkFrames
        let holdAt = chunks * 3 / 4
        print("== Resume: a \(frames)-frame synthetic job (\(chunks) chunks of \(Self.chunkFrames), \(frameCost) ms a frame), its host killed after chunk \(holdAt - 1) ==")
        let whole = try await slotTime(checkpoints: true, killAfter: nil)
        let resumed = try await slotTime(checkpoints: true, killAfter: holdAt)
        let restarted = try await slotTime(checkpoints: false, killAfter: holdAt)
        let chunkSeconds = whole.seconds / Double(chunks)
        report("slot time, killed at \(holdAt)/\(chunks) and resumed", resumed.seconds, unit: "s", anchor: whole.seconds,
               anchorName: "uninterrupted", target: String(format: "ratio <= 1.0 + one chunk (%.3f) + one load (0)", chunkSeconds / whole.seconds))
        report("  the same, the killed attempt as measured (not as charged)", resumed.measured, unit: "s", anchor: whole.seconds,
               anchorName: "uninterrupted")
        report("slot time, killed at \(holdAt)/\(chunks), no checkpoints (starts over)", restarted.seconds, unit: "s", anchor: whole.seconds,
               anchorName: "uninterrupted")
        print("  resumed from frame \(resumed.resumedFrom.map(String.init) ?? "none"); \(resumed.saved.map { String(format: "%.3f s saved by resume (/metrics)", $0) } ?? "")")
        print("  frames: uninterrupted \(whole.frames), resumed \(resumed.frames), restarted \(restarted.frames)")

        let drain = try await drainSeconds()
        report("SIGTERM to a host with 2 such jobs: until both are queued", drain, unit: "s", anchor: chunkSeconds + 1,
               anchorName: "one chunk's generation + 1 s", target: "ratio <= 1")

        let threshold = 2.0
        let check = min(1, threshold / 4)
        let preempt = try await preemptionWait(threshold: threshold)
        report("--preempt-after \(Int(threshold)): the high-priority job's wait past the threshold", preempt.wait, unit: "s",
               anchor: chunkSeconds + check, anchorName: String(format: "one chunk + the check interval (%.2f s)", check),
               target: "ratio <= 1 (a model load comes on top for a resident pipeline that must swap)")
        print(String(format: "  the preempted job: %@; its slot time %.3f s against %.3f s uninterrupted",
                     preempt.outcomes, preempt.preemptedSlotTime, whole.seconds))
    }

    struct Outcome {
        var seconds: Double
        /// The same with the killed attempt's time as measured here, not as charged.
        var measured: Double
        var frames: Int
        var resumedFrom: Int?
        var saved: Double?
    }

    func pipelines(_ dir: TemporaryDirectory, checkpoints: Bool) throws -> String {
        let folder = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let definition = """
            {
              "name": "long",
              "command": ["{bin}/spool-synthetic-worker", "--checkpoints", "\(checkpoints ? "on" : "off")", "--steps", "1",
                          "--frame-cost-ms", "\(frameCost)"],
              "chunking": { "frames": \(Self.chunkFrames), "overlap": 0, "overlapPolicy": "drop" },
              "sizes": { "default": "\(size)" },
              "checkpoints": \(checkpoints),
              "timeouts": { "startupSeconds": 60, "stallSeconds": 600 }
            }
            """
        try definition.write(toFile: folder + "/long.json", atomically: true, encoding: .utf8)
        return folder
    }

    func daemon(_ dir: TemporaryDirectory, _ pipelines: String, gate: String?, log: String, slots: Int = 1) throws -> DaemonProcess {
        var environment: [String: String] = [:]
        if let gate { environment["SPOOL_SYNTHETIC_GATE"] = gate }
        return try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", String(slots), "--pipelines", pipelines,
                "--listen", "127.0.0.1:0", "--no-drop-folder", "--default-pipeline", "long", "--host", "bench",
                "--shutdown-grace", "3600",
            ],
            log: dir.file(log), environment: environment)
    }

    /// The job's slot time over all its attempts, as the store charges them (a killed attempt up
    /// to its host's last heartbeat). The killed attempt's time is also measured here, from its
    /// start to when the job was seen past chunk `killAfter - 1`, and printed as a check.
    func slotTime(checkpoints: Bool, killAfter holdAt: Int?) async throws -> Outcome {
        let dir = try TemporaryDirectory("spool-bench-resume")
        defer { dir.remove() }
        let pipelines = try pipelines(dir, checkpoints: checkpoints)
        let gate = try WorkerGate()
        var daemon = try self.daemon(dir, pipelines, gate: holdAt.map { gate.environmentValue(fromChunk: $0) }, log: "daemon-0.log")
        var client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        let job = try await client.submit(JobSpec(prompt: "a long take", frames: frames, seed: 1)).job
        var lost = 0.0
        if let holdAt {
            let first = client
            try await until("the job is past chunk \(holdAt - 1)", timeout: 600) {
                let shown = try await first.job(job.id)
                return checkpoints ? shown.checkpoint?.chunk == holdAt - 1 : shown.progress.chunksDone == holdAt
            }
            let seen = Date()
            let started = try await first.attempts(job.id).attempts.first?.startedAt ?? seen
            lost = seen.timeIntervalSince(started)
            daemon.kill9()
            gate.open()
            daemon = try self.daemon(dir, pipelines, gate: nil, log: "daemon-1.log")
            client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        }
        defer { daemon.stop() }
        let last = client
        try await until("the job succeeded", timeout: 1_200) { try await last.job(job.id).state == .succeeded }
        let attempts = try await client.attempts(job.id).attempts
        let metrics = try String(contentsOf: URL(string: try await daemon.httpURL() + "/metrics")!, encoding: .utf8)
        let saved = metrics.split(separator: "\n").first { $0.hasPrefix("spool_gpu_seconds_saved_by_resume_total ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
        let video = try MediaProbe(path: try await client.job(job.id).videoPath ?? "")
        print(String(format: "  %@: killed attempt %.3f s (measured here), then %@", checkpoints ? "checkpoints" : "no checkpoints", lost,
                     attempts.map { String(format: "%@ %.3f s", $0.outcome.rawValue, $0.gpuSeconds) }.joined(separator: ", ")))
        return Outcome(
            // The store charges a lost attempt up to its host's last heartbeat (recovery); the
            // time measured here is printed beside it as a check.
            seconds: attempts.map(\.gpuSeconds).reduce(0, +),
            measured: lost + attempts.filter { $0.outcome != .lost }.map(\.gpuSeconds).reduce(0, +), frames: video.frames,
            resumedFrom: attempts.last?.resumedFromFrame, saved: saved)
    }

    /// Two jobs running on two slots; SIGTERM; seconds until the store has both queued again.
    func drainSeconds() async throws -> Double {
        let dir = try TemporaryDirectory("spool-bench-drain")
        defer { dir.remove() }
        let daemon = try self.daemon(dir, try pipelines(dir, checkpoints: true), gate: nil, log: "daemon.log", slots: 2)
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        var ids: [String] = []
        for seed in 1...2 { ids.append(try await client.submit(JobSpec(prompt: "a long take", frames: frames, seed: UInt64(seed))).job.id) }
        try await until("both jobs are a few chunks in", timeout: 600) {
            var ready = true
            for id in ids { ready = try await client.job(id).checkpoint.map { $0.chunk >= 3 } ?? false && ready }
            return ready
        }
        let signalled = Date()
        daemon.send(SIGTERM)
        // The host leaves once both are back in the queue; each attempt's end is stamped in the
        // store as the job goes back.
        try await until("the draining host exits", timeout: 600) { !daemon.process.isRunning }
        let store = try SQLiteJobStore(path: dir.file("data/spool.sqlite"))
        var queued = 0.0
        for id in ids {
            let state = try await store.job(JobID(id))?.state
            guard state == .queued, let ended = try await store.attempts(of: JobID(id)).last?.endedAt else {
                throw ValidationError("job \(id) is \(state.map(\.rawValue) ?? "gone") after the drain, not queued")
            }
            queued = max(queued, ended.timeIntervalSince(signalled))
        }
        return queued
    }

    /// One slot running a long low-priority job; a short high-priority one submitted once the
    /// long one is a few chunks in, with `--preempt-after threshold`. Returns the high job's
    /// wait past the threshold (its claim less its submission and the threshold), and what the
    /// preempted job's attempts were and cost.
    func preemptionWait(threshold: Double) async throws -> (wait: Double, outcomes: String, preemptedSlotTime: Double) {
        let dir = try TemporaryDirectory("spool-bench-preempt")
        defer { dir.remove() }
        let daemon = try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "1", "--pipelines", try pipelines(dir, checkpoints: true),
                "--listen", "127.0.0.1:0", "--no-drop-folder", "--default-pipeline", "long", "--host", "bench",
                "--preempt-after", String(threshold),
            ],
            log: dir.file("daemon.log"))
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        let low = try await client.submit(JobSpec(prompt: "a long take", frames: frames, seed: 1)).job
        try await until("the long job is a few chunks in", timeout: 600) { try await client.job(low.id).checkpoint.map { $0.chunk >= 3 } ?? false }
        let high = try await client.submit(JobSpec(prompt: "urgent", frames: Self.chunkFrames * 2, seed: 2, priority: 10)).job
        try await until("both jobs succeeded", timeout: 1_200) {
            let states = [try await client.job(high.id).state, try await client.job(low.id).state]
            return states.allSatisfy { $0 == .succeeded }
        }
        let done = try await client.job(high.id)
        guard let started = done.timings.startedAt else { throw ValidationError("the high-priority job has no start") }
        let wait = started.timeIntervalSince(done.timings.submittedAt) - threshold
        let attempts = try await client.attempts(low.id).attempts
        let outcomes = attempts.map { a in
            a.outcome.rawValue + (a.resumedFromFrame.map { " (resumed from frame \($0))" } ?? "")
        }.joined(separator: ", ")
        return (wait, outcomes, attempts.map(\.gpuSeconds).reduce(0, +))
    }
}
