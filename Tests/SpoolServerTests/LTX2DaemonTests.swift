import Foundation
import SpoolCore
import SpoolTesting
import Testing

/// A chained LTX-2 job through `spool serve` on a tiny checkpoint, from an image, ending as an MP4
/// of exactly the frames asked for with the model's sound as an AAC track as long as the video.
@Suite("LTX-2 through the daemon", .enabled(if: TinyModels.isAvailable && MediaProbe.toolsAvailable), .takesTurns)
struct LTX2DaemonTests {
    @Test func aChainedLTX2JobEndsAsAnMP4WithItsSound() async throws {
        let dir = try TemporaryDirectory("ltx2-daemon")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        let pipeline = try await TinyLTX2.pipeline()
        try JSONEncoder().encode(pipeline).write(to: URL(fileURLWithPath: pipelines + "/ltx2-tiny.json"))
        let size = FrameSize(width: 96, height: 64)
        try MediaFiles.write([MediaFiles.picture(size)], size: size, to: dir.file("first.png"))
        let daemon = try DaemonProcess.onOneSlot(dir, pipelines: pipelines, ["--default-pipeline", "ltx2-tiny"])
        defer { #expect(daemon.stop(), "the daemon ignored SIGTERM") }
        let url = try await daemon.httpURL()
        // 30 frames: clips of 17, 17 and 17, 33 made, 30 kept with their sound.
        let result = try runProcess(
            [DaemonProcess.binary, "submit", "--prompt", "a bell rings in the snow", "--frames", "30", "--image", dir.file("first.png"),
             "--wait", "--json", "--server", url],
            environment: ["SPOOL_SERVER": ""])
        let job = try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        #expect(job?["state"] as? String == "succeeded", "\(result.stderr)\n\(daemon.output.suffix(3_000))")
        #expect((job?["progress"] as? [String: Any])?["chunksDone"] as? Int == 3)
        let path = try #require(job?["videoPath"] as? String)
        let probe = try MediaProbe(path: path)
        #expect(probe.frames == 30 && probe.width == 96 && probe.height == 64)
        let audio = try #require(try MediaProbe.audio(path: path), "the LTX-2 video has no sound")
        #expect(audio.codec == "aac" && audio.sampleRate == 16_000 && audio.channels == 2)
        // 30 frames at 24 FPS: 1.25 s, 20,000 samples; within one AAC frame (1,024 samples).
        #expect(abs(audio.duration - 1.25) < 1_024.0 / 16_000, "\(audio.duration) s")
        let samples = try MediaProbe.decodeAudio(path: path)
        #expect((20_000..<21_024).contains(samples.count), "\(samples.count) samples")
    }
}
