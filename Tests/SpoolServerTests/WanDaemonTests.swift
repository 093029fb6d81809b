import Foundation
import SpoolCore
import SpoolTesting
import Testing

/// Whole jobs through `spool serve` on tiny Wan checkpoints: the CLI submits them, the daemon
/// starts the resident Wan worker on diffusers' own pipelines, and each MP4 that comes out has
/// exactly the frames asked for.
@Suite("Wan through the daemon", .enabled(if: TinyModels.isAvailable && MediaProbe.toolsAvailable), .takesTurns)
struct WanDaemonTests {
    @Test func wanJobsOfOneClipAndOfAChainFromAnImageEndAsMP4sOfTheFramesAskedFor() async throws {
        let dir = try TemporaryDirectory("wan-daemon")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        for layout in TinyWan.Layout.allCases {
            let pipeline = try await TinyWan.pipeline(layout, checkpoints: layout == .ti2v)
            try encoder.encode(pipeline).write(to: URL(fileURLWithPath: pipelines + "/\(pipeline.name).json"))
        }
        let size = FrameSize(width: 64, height: 48)
        try MediaFiles.write([MediaFiles.picture(size)], size: size, to: dir.file("first.png"))

        let daemon = try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "1", "--pipelines", pipelines,
                "--default-pipeline", "wan-ti2v-tiny", "--preset", "ultrafast", "--listen", "127.0.0.1:0",
            ],
            log: dir.file("daemon.log"))
        defer { #expect(daemon.stop(), "the daemon ignored SIGTERM") }
        let url = try await daemon.httpURL()
        func submit(_ arguments: [String]) throws -> (status: Int32, job: [String: Any]?, stderr: String) {
            let result = try runProcess(
                [DaemonProcess.binary, "submit", "--prompt", "a fox runs through snow", "--wait", "--json", "--server", url] + arguments,
                environment: ["SPOOL_SERVER": ""])
            return (result.status, try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], result.stderr)
        }

        // T2V: one clip, 9 frames made, 7 kept.
        let one = try submit(["--pipeline", "wan-t2v-tiny", "--frames", "7"])
        #expect(one.job?["state"] as? String == "succeeded", "\(one.stderr)\n\(daemon.output.suffix(3_000))")
        let oneProbe = try MediaProbe(path: try #require(one.job?["videoPath"] as? String))
        #expect(oneProbe.frames == 7 && oneProbe.width == 64 && oneProbe.height == 48)

        // TI2V from an image, 40 frames: five chained clips (9 + 8·4 = 41 made), each a chunk.
        let chained = try submit(["--frames", "40", "--image", dir.file("first.png")])
        #expect(chained.job?["state"] as? String == "succeeded", "\(chained.stderr)\n\(daemon.output.suffix(3_000))")
        let progress = chained.job?["progress"] as? [String: Any]
        #expect(progress?["chunksDone"] as? Int == 5 && progress?["chunksTotal"] as? Int == 5, "\(progress ?? [:])")
        let probe = try MediaProbe(path: try #require(chained.job?["videoPath"] as? String))
        #expect(probe.frames == 40 && probe.width == 64 && probe.height == 48)

        // A side off the model's grid, and a length past what a T2V checkpoint can make, are
        // refused at submission, naming the field.
        let offGrid = try submit(["--frames", "9", "--size", "72x48"])
        #expect(offGrid.status != 0)
        #expect(offGrid.stderr.contains("width"), "\(offGrid.stderr)")
        #expect(offGrid.stderr.contains("pipeline wan-ti2v-tiny makes sides that are multiples of 16 (64 or 80)"), "\(offGrid.stderr)")
        let tooLong = try submit(["--pipeline", "wan-t2v-tiny", "--frames", "20"])
        #expect(tooLong.status != 0 && tooLong.stderr.contains("pipeline wan-t2v-tiny makes at most 9"), "\(tooLong.stderr)")
    }
}
