import Foundation
import SpoolAPIModel
import SpoolCore
import SpoolTesting
import Testing

/// The real `spool` binary against a real daemon process.
@Suite("spool CLI", .serialized)
struct CLITests {
    static let spool = DaemonProcess.binary
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines").path

    /// A daemon on a free loopback port, and its URL.
    final class Daemon: Sendable {
        let daemon: DaemonProcess
        let dir: TemporaryDirectory
        let url: String

        /// `options` replaces the usual ones after `serve --data DIR --listen 127.0.0.1:0`;
        /// with `gate`, every job's worker waits at it after its first chunk.
        init(options: [String]? = nil, gate: WorkerGate? = nil) async throws {
            dir = try TemporaryDirectory("cli")
            daemon = try DaemonProcess(
                arguments: ["--data", dir.file("data"), "--listen", "127.0.0.1:0"]
                    + (options ?? ["--gpus", "none", "--virtual-slots", "1", "--pipelines", CLITests.pipelines, "--preset", "ultrafast"]),
                log: dir.file("log"),
                environment: gate.map { ["SPOOL_SYNTHETIC_GATE": $0.environmentValue(fromChunk: 1)] } ?? [:])
            do {
                try await daemon.waitForLog("HTTP API on http://")
            } catch {
                daemon.stop(timeout: 1)
                throw error
            }
            let text = daemon.output
            let range = text.range(of: #"HTTP API on (http://[0-9.]+:[0-9]+)"#, options: .regularExpression)!
            url = String(text[range].dropFirst("HTTP API on ".count))
        }

        func stop() {
            #expect(daemon.stop(), "the daemon ignored SIGTERM")
            dir.remove()
        }
    }

    func spool(_ arguments: [String], server: String?) throws -> ProcessResult {
        try runProcess([Self.spool] + arguments + (server.map { ["--server", $0] } ?? []), environment: ["SPOOL_SERVER": ""])
    }

    func jobFile(_ daemon: Daemon, _ json: String) throws -> String {
        let path = daemon.dir.file("job-\(UUID().uuidString.prefix(6)).json")
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func submitWaitStatusListWatchAndGPUs() async throws {
        let daemon = try await Daemon()
        defer { daemon.stop() }
        let file = try jobFile(daemon, #"{"prompt": "a fox", "frames": 48, "width": 64, "height": 48, "outputName": "fox"}"#)

        let waited = try spool(["submit", file, "--wait"], server: daemon.url)
        #expect(waited.status == 0, "\(waited.stderr)")
        let video = waited.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(video.hasSuffix(".mp4") && FileManager.default.fileExists(atPath: video))
        #expect(waited.stderr.contains("succeeded"), "plain progress lines without a terminal")

        let submitted = try spool(["submit", "--prompt", "a cat", "--frames", "24", "--size", "64x48", "--json"], server: daemon.url)
        #expect(submitted.status == 0)
        let job = try JSONDecoder.spoolAPI.decode(JobResource.self, from: submitted.stdout)
        #expect(job.spec.frames == 24 && job.spec.width == 64)

        let watched = try spool(["watch", job.id, "--json"], server: daemon.url)
        #expect(watched.status == 0)
        #expect(try JSONDecoder.spoolAPI.decode(JobResource.self, from: watched.stdout).state == .succeeded)

        let status = try spool(["status", job.id], server: daemon.url)
        #expect(status.status == 0)
        #expect(status.stdoutText.contains("state    succeeded"))
        #expect(status.stdoutText.contains("GPU-seconds"))
        #expect(status.stdoutText.contains("history\n  1  generated   "), "\(status.stdoutText)")
        let statusJSON = try spool(["status", job.id, "--json"], server: daemon.url)
        let object = try JSONSerialization.jsonObject(with: statusJSON.stdout) as? [String: Any]
        #expect(object?["id"] as? String == job.id && object?["state"] as? String == "succeeded")
        #expect((object?["attempts"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["generated"])

        let list = try spool(["list", "--state", "succeeded", "--json"], server: daemon.url)
        #expect(try JSONDecoder.spoolAPI.decode(JobList.self, from: list.stdout).jobs.count == 2)
        let table = try spool(["list"], server: daemon.url)
        #expect(table.stdoutText.contains(job.id))

        let gpus = try spool(["gpus", "--json"], server: daemon.url)
        #expect(try JSONDecoder.spoolAPI.decode(GPUList.self, from: gpus.stdout).slots.map(\.name) == ["virtual0"])
    }

    @Test func cancelAndTheExitCodesOfFailure() async throws {
        let gate = try WorkerGate()
        let daemon = try await Daemon(gate: gate)
        defer { daemon.stop() }
        let slow = try spool(["submit", "--prompt", "slow", "--frames", "1440", "--size", "64x48", "--json"], server: daemon.url)
        let id = try JSONDecoder.spoolAPI.decode(JobResource.self, from: slow.stdout).id
        let cancel = try spool(["cancel", id], server: daemon.url)
        #expect(cancel.status == 0 && cancel.stdoutText.contains("cancelled \(id)"))
        let watch = try spool(["watch", id], server: daemon.url)
        #expect(watch.status == 1)
        #expect(watch.stderr.contains("cancelled"))
        #expect(try spool(["cancel", id], server: daemon.url).status == 70)

        let invalid = try spool(["submit", "--prompt", "x", "--frames", "5000"], server: daemon.url)
        #expect(invalid.status == 65)
        #expect(invalid.stderr.contains("frames: is 5000"))
        #expect(try spool(["status", "no-such-job"], server: daemon.url).status == 66)
        #expect(try spool(["submit"], server: daemon.url).status == 64)
        #expect(try spool(["submit", "--prompt", "x", "--frames", "8", "--size", "big"], server: daemon.url).status == 64)
    }

    @Test func versionNamesTheFFmpegLibrariesItRunsWithAndHowTheyWereBuilt() throws {
        let run = try runProcess([Self.spool, "--version"])
        #expect(run.status == 0)
        let text = run.stdoutText
        #expect(text.hasPrefix("spool \(Spool.version)\n"), "\(text)")
        #expect(text.contains("bundle: none (built from source)"))
        // Debian's FFmpeg 5.1: libavcodec 59, and the configure line it was built with.
        #expect(text.contains("FFmpeg: libavcodec 59."), "\(text)")
        #expect(text.contains("FFmpeg configuration: ") && text.contains("--enable-libx264"), "\(text)")
    }

    @Test func aDaemonThatIsNotRunningIsSaidPlainly() throws {
        let result = try spool(["list"], server: "http://127.0.0.1:1")
        #expect(result.status == 69)
        #expect(result.stderr.contains("cannot reach the Spool daemon at http://127.0.0.1:1"))
        #expect(result.stderr.contains("spool serve"))
    }

    @Test func serveReadsTheSampleConfigAndOptionsWinOverIt() async throws {
        let sample = URL(fileURLWithPath: Self.pipelines).deletingLastPathComponent().appendingPathComponent("Samples/spool.json").path
        // The sample names ~/.local/share/spool and port 8750; the options given here must win.
        let daemon = try await Daemon(options: ["--config", sample, "--gpus", "none", "--preset", "ultrafast"])
        defer { daemon.stop() }
        #expect(!daemon.url.hasSuffix(":8750"))
        let file = try jobFile(daemon, #"{"prompt": "config", "frames": 24, "width": 64, "height": 48}"#)
        let waited = try spool(["submit", file, "--wait"], server: daemon.url)
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(waited.stdoutText.hasPrefix(daemon.dir.file("data")), "the video lands in --data, not the config's data folder")
    }

    @Test func aBadConfigFileIsAUsageErrorNamingTheSetting() throws {
        let dir = try TemporaryDirectory("config")
        defer { dir.remove() }
        try #"{"gpus": "none", "virtual_slots": 2}"#.write(toFile: dir.file("bad.json"), atomically: true, encoding: .utf8)
        let result = try runProcess([Self.spool, "serve", "--config", dir.file("bad.json"), "--data", dir.file("data")])
        #expect(result.status == 64)
        #expect(result.stderr.contains("unknown setting(s) virtual_slots"), "\(result.stderr)")
        let missing = try runProcess([Self.spool, "serve", "--config", dir.file("none.json"), "--data", dir.file("data")])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("cannot read the config file"), "\(missing.stderr)")
        try #"{"encoder-priority": "20"}"#.write(toFile: dir.file("nice.json"), atomically: true, encoding: .utf8)
        let priority = try runProcess([Self.spool, "serve", "--config", dir.file("nice.json"), "--data", dir.file("data")])
        #expect(priority.status == 64)
        #expect(priority.stderr.contains("--encoder-priority takes idle or a nice value from 0 to 19, not 20"), "\(priority.stderr)")
    }
}
