import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// A job's live preview: an HLS playlist a player reads while the job runs, made of the very
/// packets the MP4 gets, ended when the job ends and removed a while after.
@Suite("Live preview (HLS), end to end", .serialized, .enabled(if: MediaProbe.toolsAvailable))
struct LivePreviewTests {
    static let size = FrameSize(width: 128, height: 96)

    static func daemon(_ dir: TemporaryDirectory, _ extra: [String] = [], gate: WorkerGate? = nil) throws -> DaemonProcess {
        var environment = ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"]
        if let gate { environment["SPOOL_SYNTHETIC_GATE"] = gate.environmentValue(fromChunk: 2) }
        return try DaemonProcess.onOneSlot(dir, pipelines: ConditioningTests.pipelines, extra, environment: environment)
    }

    static func get(_ url: String) async throws -> (String, Int) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return (String(decoding: data, as: UTF8.self), (response as? HTTPURLResponse)?.statusCode ?? 0)
    }

    @Test func ffprobeReadsARunningJobsPlaylistAndItHoldsTheMP4sFrames() async throws {
        let dir = try TemporaryDirectory("live")
        defer { dir.remove() }
        let gate = try WorkerGate()
        let daemon = try Self.daemon(dir, gate: gate)
        defer { daemon.stop() }
        let base = try await daemon.httpURL()
        let client = SpoolClient(server: URL(string: base)!)
        let job = try await client.submit(JobSpec(prompt: "a fox", frames: 96, width: 128, height: 96)).job
        let playlist = "\(base)/v1/jobs/\(job.id)/live.m3u8"

        // Held before its third chunk: each chunk handed over has its segment listed, the
        // second's included, though no later frame has come to close it. The job still runs.
        try await until("the playlist lists both chunks' segments") {
            let (text, status) = try await Self.get(playlist)
            return status == 200 && text.contains("\nlive/seg00001.m4s")
        }
        let (running, _) = try await Self.get(playlist)
        #expect(running.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !running.contains("#EXT-X-ENDLIST"))
        #expect(running.contains("#EXT-X-MAP:URI=\"live/init.mp4\"") && running.contains("\nlive/seg00000.m4s"), "\(running)")
        #expect(!running.contains("seg00002"), "no segment before its chunk: \(running)")
        // ffprobe reads its stream as a player would (without counting frames: a live playlist
        // has no end to count to yet).
        let probe = try await onThread {
            try runProcess(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", playlist])
        }
        let streams = probe.stdoutText.split(separator: "\n").filter { !$0.isEmpty }
        #expect(probe.status == 0 && !streams.isEmpty && streams.allSatisfy { $0 == "h264,128,96" }, "\(probe.stdoutText) \(probe.stderr)")
        #expect(try await client.job(job.id).state == .running, "ffprobe read the preview while the job ran")
        // ffplay plays it, as a person watching would: a second of it, while the job still runs.
        let player = try HeadlessPlayer(playlist, log: dir.file("ffplay.log"))
        defer { player.stop() }
        try await until("ffplay has played a second of the running job") { player.playedSeconds > 1 || !player.isRunning }
        #expect(player.playedSeconds > 1, "\(player.output)")
        player.stop()
        #expect(try await client.job(job.id).state == .running, "ffplay played the preview while the job ran")

        gate.open()
        try await until("the job succeeded") { try await client.job(job.id).state == .succeeded }
        let (ended, _) = try await Self.get(playlist)
        #expect(ended.contains("#EXT-X-ENDLIST"))
        // About one segment a chunk (33 frames: 1.375 s), each starting with a keyframe.
        #expect(ended.components(separatedBy: "#EXTINF:").count - 1 == 3, "\(ended)")
        // The same packets as the MP4: every frame decodes to the same pixels.
        let video = dir.file("data/videos/\(job.id).mp4")
        let live = try await onThread { try MediaProbe.decodeLuma(path: playlist, size: Self.size) }
        let mp4 = try await onThread { try MediaProbe.decodeLuma(path: video, size: Self.size) }
        #expect(live.count == 96 && mp4.count == 96)
        #expect(live == mp4, "the preview's frames are the MP4's")
        // The MP4 is as exact as without a preview, though three encoder instances made it.
        let stream = try await onThread { try MediaProbe(path: video) }
        #expect(stream.frames == 96 && stream.duration == "4.000000" && stream.frameRate == "24/1", "\(stream)")
        let (missing, status) = try await Self.get("\(base)/v1/jobs/\(job.id)/live/seg99999.m4s")
        #expect(status == 404 && missing.contains("has no seg99999.m4s"))
        let (escape, escapeStatus) = try await Self.get("\(base)/v1/jobs/\(job.id)/live/..%2Fspool.sqlite")
        #expect(escapeStatus == 404, "\(escape)")
    }

    @Test func aPreviewIsRemovedAfterItsRetentionAndCanBeTurnedOff() async throws {
        let dir = try TemporaryDirectory("live-retention")
        defer { dir.remove() }
        do {
            let daemon = try Self.daemon(dir, ["--live-retention-minutes", "0"])
            defer { daemon.stop() }
            let base = try await daemon.httpURL()
            let client = SpoolClient(server: URL(string: base)!)
            let job = try await client.submit(JobSpec(prompt: "a fox", frames: 40, width: 128, height: 96)).job
            try await until("the job succeeded") { try await client.job(job.id).state == .succeeded }
            try await until("its preview is removed") { !FileManager.default.fileExists(atPath: dir.file("data/videos/.live/\(job.id)")) }
            let (gone, status) = try await Self.get("\(base)/v1/jobs/\(job.id)/live.m3u8")
            // Gone, not missing: the job is there, its preview is over (a fuzzer that has just
            // made the job rightly calls a 404 for it a resource that vanished).
            #expect(status == 410 && gone.contains("its MP4 is at"), "\(gone)")
        }
        let off = try TemporaryDirectory("live-off")
        defer { off.remove() }
        let daemon = try Self.daemon(off, ["--live-preview", "off"])
        defer { daemon.stop() }
        let base = try await daemon.httpURL()
        let client = SpoolClient(server: URL(string: base)!)
        let job = try await client.submit(JobSpec(prompt: "a fox", frames: 40, width: 128, height: 96)).job
        try await until("the job succeeded") { try await client.job(job.id).state == .succeeded }
        let (text, status) = try await Self.get("\(base)/v1/jobs/\(job.id)/live.m3u8")
        #expect(status == 404 && text.contains("--live-preview off"))
        #expect(!FileManager.default.fileExists(atPath: off.file("data/videos/.live")))
    }

    /// The preview is a view of the job, never a part of it: when its files cannot be written
    /// the job still succeeds with its whole MP4, and the playlist says it is not there.
    @Test func aPreviewThatCannotBeWrittenLeavesTheJobWhole() async throws {
        let dir = try TemporaryDirectory("live-unwritable")
        defer { dir.remove() }
        // The previews' folder is taken by a file, so no preview can be made.
        try FileManager.default.createDirectory(atPath: dir.file("data/videos"), withIntermediateDirectories: true)
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: dir.file("data/videos/.live")))
        let daemon = try Self.daemon(dir)
        defer { daemon.stop() }
        let base = try await daemon.httpURL()
        let client = SpoolClient(server: URL(string: base)!)
        let job = try await client.submit(JobSpec(prompt: "a fox", frames: 96, width: 128, height: 96)).job
        try await until("the job ended") { try await client.job(job.id).state.isFinal }
        #expect(try await client.job(job.id).state == .succeeded)
        let frames = try await onThread { try MediaProbe.decodeLuma(path: dir.file("data/videos/\(job.id).mp4"), size: Self.size) }
        #expect(frames.count == 96)
        let (_, status) = try await Self.get("\(base)/v1/jobs/\(job.id)/live.m3u8")
        #expect(status == 410)
        // The daemon says why there was no preview.
        try await until("the daemon logs why the preview stopped") {
            let log = (try? String(contentsOfFile: dir.file("daemon.log"), encoding: .utf8)) ?? ""
            return log.contains("the live preview stopped early") && log.contains(".live")
        }
    }
}
