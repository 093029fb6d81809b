import Foundation
import SpoolCore
import SpoolTesting
import Testing

/// A chained LTX-Video job through `spool serve` on a tiny checkpoint, from an image, ending as
/// an MP4 of exactly the frames asked for.
@Suite("LTX-Video through the daemon", .enabled(if: TinyModels.isAvailable && MediaProbe.toolsAvailable), .takesTurns)
struct LTXDaemonTests {
    @Test func aChainedLTXJobFromAnImageEndsAsAnMP4OfTheFramesAskedFor() async throws {
        let dir = try TemporaryDirectory("ltx-daemon")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        let pipeline = try await TinyLTX.pipeline(checkpoints: true)
        try JSONEncoder().encode(pipeline).write(to: URL(fileURLWithPath: pipelines + "/ltx-tiny.json"))
        let size = FrameSize(width: 96, height: 64)
        try MediaFiles.write([MediaFiles.picture(size)], size: size, to: dir.file("first.png"))
        let daemon = try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "1", "--pipelines", pipelines,
                "--default-pipeline", "ltx-tiny", "--preset", "ultrafast", "--listen", "127.0.0.1:0",
            ],
            log: dir.file("daemon.log"))
        defer { #expect(daemon.stop(), "the daemon ignored SIGTERM") }
        let url = try await daemon.httpURL()
        // 30 frames: clips of 17, 17 and 17 (the last the shortest on the 8k+1 grid), 33 made.
        let result = try runProcess(
            [DaemonProcess.binary, "submit", "--prompt", "a fox runs through snow", "--frames", "30", "--image", dir.file("first.png"),
             "--wait", "--json", "--server", url],
            environment: ["SPOOL_SERVER": ""])
        let job = try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
        #expect(job?["state"] as? String == "succeeded", "\(result.stderr)\n\(daemon.output.suffix(3_000))")
        #expect((job?["progress"] as? [String: Any])?["chunksDone"] as? Int == 3)
        let probe = try MediaProbe(path: try #require(job?["videoPath"] as? String))
        #expect(probe.frames == 30 && probe.width == 96 && probe.height == 64)
    }
}
