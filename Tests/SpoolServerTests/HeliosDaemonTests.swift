import Foundation
import SpoolCore
import SpoolTesting
import Testing

/// A whole job through `spool serve` on a tiny Helios checkpoint: the CLI submits it, the
/// daemon starts the resident Helios worker on the real diffusers pipeline, and the MP4 that
/// comes out has exactly the frames asked for.
@Suite("Helios through the daemon", .enabled(if: TinyHelios.isAvailable && MediaProbe.toolsAvailable), .takesTurns)
struct HeliosDaemonTests {
    @Test func aJobOnTheTinyDistilledCheckpointEndsAsAnMP4OfTheFramesAskedFor() async throws {
        let dir = try TemporaryDirectory("helios-daemon")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        let pipeline = try await TinyHelios.pipeline(.distilled, name: "helios-tiny")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(pipeline).write(to: URL(fileURLWithPath: pipelines + "/helios-tiny.json"))

        let daemon = try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "1", "--pipelines", pipelines,
                "--default-pipeline", "helios-tiny", "--preset", "ultrafast", "--listen", "127.0.0.1:0",
            ],
            log: dir.file("daemon.log"))
        defer { #expect(daemon.stop(), "the daemon ignored SIGTERM") }
        let url = try await daemon.httpURL()
        let submitted = try runProcess(
            [DaemonProcess.binary, "submit", "--prompt", "a fox runs through snow", "--frames", "40", "--size", "128x64",
             "--option", "pyramid_steps=1,1,1", "--wait", "--json", "--server", url],
            environment: ["SPOOL_SERVER": ""])
        #expect(submitted.status == 0, "\(submitted.stderr)\n\(daemon.output.suffix(3_000))")
        let last = try #require(try? JSONSerialization.jsonObject(with: submitted.stdout) as? [String: Any])
        #expect(last["state"] as? String == "succeeded", "\(submitted.stdoutText.suffix(2_000))")
        #expect(last["coldStart"] as? Bool == true, "the job waited for the model to load")
        #expect((last["loadSeconds"] as? Double ?? 0) > 0)
        let spec = try #require(last["spec"] as? [String: Any])
        #expect(spec["options"] as? [String: String] == ["pyramid_steps": "1,1,1"])
        let video = try #require(last["videoPath"] as? String)
        let probe = try MediaProbe(path: video)
        #expect(probe.frames == 40 && probe.width == 128 && probe.height == 64)

        // A job option the pipeline does not list is refused at submission, naming it.
        let refused = try runProcess(
            [DaemonProcess.binary, "submit", "--prompt", "a fox", "--frames", "40", "--option", "model=other",
             "--server", url],
            environment: ["SPOOL_SERVER": ""])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("options.model"), "\(refused.stderr)")
        #expect(refused.stderr.contains("pipeline helios-tiny has no job option \"model\""), "\(refused.stderr)")
    }
}
