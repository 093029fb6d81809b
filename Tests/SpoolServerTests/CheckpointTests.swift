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
@Suite("Checkpoints, end to end", .serialized, .enabled(if: MediaProbe.toolsAvailable))
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

    // Chunks of 8 frames: 24 final after chunk 2; overlapping by 2 (each chunk starts 6 on), chunk 2
    // ends at 20 and the next chunk blends over its last 2.
    @Test(arguments: [(0, "drop", 24), (2, "blend", 18)])
    func aRunningJobShowsItsKeptCheckpointAndEndingRemovesIt(overlap: Int, policy: String, finalFrames: Int) async throws {
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
        // Held before its fourth chunk: the third's checkpoint is the job's.
        try await until("the job shows its checkpoint after chunk 2") { try await client.job(job.id).checkpoint?.chunk == 2 }
        let shown = try await client.job(job.id)
        #expect(shown.checkpoint?.frame == finalFrames && shown.state == .running)
        let folder = dir.file("shared/checkpoints/\(job.id)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        // The two latest: the store may still name the one before while its write is on its way.
        #expect(kept == ["state-a001-c00001", "state-a001-c00002"], "\(kept)")
        let state = try String(contentsOfFile: folder + "/state-a001-c00002", encoding: .utf8)
        #expect(state.contains("\"nextChunk\":3") || state.contains("\"next_chunk\":3"), "\(state)")
        let status = try runProcess([CLITests.spool, "status", job.id, "--server", try await daemon.httpURL()]).stdoutText
        #expect(status.contains("checkpoint after chunk 2 (frames 0-\(finalFrames - 1) final)"), "\(status)")

        // The attempt's files are its own until it wins: named by host and attempt, and no poster
        // at the job's own name while it runs (a stale attempt must never write over a winner's).
        // (The encoder writes them from its first frame on, on its own thread: wait for them.)
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
}
