import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// Issue 30, the quality score on every video: the encoder measures seams, flicker, freezes and
/// drift on every frame it encodes. The synthetic worker makes the flaws on purpose (`--seam`, a
/// jump at every chunk boundary; `--freeze`, chunks that hold their first frame), and a real
/// daemon's jobs show them far from a clean run's: in the job resource, in `/metrics` per
/// pipeline, and in the webhook's payload.
@Suite("Video quality")
struct QualityTests {
    @Test func seamsAndFreezesAreMeasuredOnEveryVideoFarFromACleanRunsFigures() async throws {
        let dir = try TemporaryDirectory("quality")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        for (name, flags) in [("clean", [String]()), ("seamed", ["--seam"]), ("frozen", ["--freeze"])] {
            let pipeline = PipelineDefinition(
                name: name, command: ["{bin}/spool-synthetic-worker"] + flags, chunking: .init(frames: 33),
                sizes: .init(default: FrameSize(width: 128, height: 96)))
            try JSONEncoder().encode(pipeline).write(to: URL(fileURLWithPath: pipelines + "/\(name).json"))
        }
        let receiver = WebhookReceiver(
            script: WebhookTests.receiverScript, secretFile: try await WebhookTests.secret(dir), log: dir.file("received.jsonl"))
        try receiver.start()
        defer { receiver.stop() }
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: pipelines,
            ["--virtual-slots", "2", "--webhook-allow-private", "--default-pipeline", "clean"],
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)

        // 99 frames: three chunks of 33, two boundaries; one seed, so the three videos differ
        // only by the flaws.
        var jobs: [String: String] = [:]
        for name in ["clean", "seamed", "frozen"] {
            jobs[name] = try await client.submit(JobSpec(
                prompt: "a fox", frames: 99, seed: 7, pipeline: name, webhook: receiver.url + "/hook", webhookEvents: [.succeeded])).job.id
        }
        try await until("every job ends") {
            var states: [JobState] = []
            for id in jobs.values { states.append(try await client.job(id).state) }
            return states.allSatisfy(\.isFinal)
        }
        var quality: [String: VideoQuality] = [:]
        for (name, id) in jobs {
            let job = try await client.job(id)
            #expect(job.state == .succeeded, "\(name): \(job.error ?? "")")
            quality[name] = try #require(job.quality, "\(name) has no quality")
        }
        let clean = try #require(quality["clean"]), seamed = try #require(quality["seamed"]), frozen = try #require(quality["frozen"])
        print("quality: clean \(clean)\nquality: seamed \(seamed)\nquality: frozen \(frozen)")
        #expect(clean.frames == 99 && seamed.frames == 99 && frozen.frames == 99)

        // Seams: a clean chunk boundary moves as much as any other frame (about 1.0); the seamed
        // worker's jumps by up to 48 levels more than its motion's 11. Deterministic (one seed, raw
        // frames measured before encoding): 4.10 against 1.36 at the worst boundary (3.0×), 3.98
        // against 1.05 on average (3.8×).
        let cleanSeam = try #require(clean.seamWorst), seam = try #require(seamed.seamWorst)
        #expect(cleanSeam < 1.5, "a clean boundary looks like a seam: \(cleanSeam)")
        #expect(seam > 2.5 * cleanSeam, "seamed \(seam) against clean \(cleanSeam)")
        #expect(try #require(seamed.seamMean) > 3 * (try #require(clean.seamMean)))
        #expect(seamed.seamWorstFrame == 33 || seamed.seamWorstFrame == 66)
        // Freezes: none in the clean run; 32 repeats in each of the frozen run's three chunks.
        #expect(clean.frozenFrames == 0 && clean.longestFreeze == 0)
        #expect(frozen.frozenFrames == 96 && frozen.longestFreeze == 32, "\(frozen)")
        // Frozen chunks move only at their two boundaries (measured 1.24 levels against 11.25).
        #expect(frozen.flicker < clean.flicker / 5)
        // Drift compares the first and last 15 %: chunks 0 and 2, which the seamed worker leaves
        // as the clean one makes them, so the two drift alike.
        #expect(abs(seamed.drift.brightness - clean.drift.brightness) < 0.01 && abs(seamed.drift.colour - clean.drift.colour) < 0.01)

        // `spool status` says it in words.
        let status = try runProcess([DaemonProcess.binary, "status", try #require(jobs["seamed"]), "--server", try await daemon.httpURL()])
        #expect(status.stdoutText.contains("quality  seams worst 4.10x at frame 33"), "\(status.stdoutText)\(status.stderr)")

        // /metrics sums each measure by pipeline.
        let (metrics, _) = try await URLSession.shared.data(from: URL(string: try await daemon.httpURL() + "/metrics")!)
        let text = String(decoding: metrics, as: UTF8.self)
        #expect(text.contains("spool_video_quality_count{pipeline=\"seamed\",measure=\"seam_worst\"} 1"), "\(text.suffix(2_000))")
        #expect(text.contains("spool_video_quality_sum{pipeline=\"frozen\",measure=\"frozen_frames\"} 96"))

        // And the succeeded webhook carries the job with its quality.
        try await until("the seamed job's webhook arrives") { receiver.entries.contains { $0.job == jobs["seamed"] } }
        let delivered = try #require(receiver.entries.first { $0.job == jobs["seamed"] })
        #expect(delivered.verified && delivered.seamWorst == seam)
    }
}
