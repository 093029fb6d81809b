import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// Issue 30, `spool eval`: every prompt on every pipeline with the same seeds through a real
/// daemon, `spool eval` run as a real process; its report, results and reruns.
@Suite("spool eval", .serialized)
struct EvalTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let pageScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Eval/report_page_test.py").path

    /// A daemon with a clean synthetic pipeline and one with a jump at every chunk boundary
    /// (`--seam`), Helios' 33-frame chunks, and a prompts file of three prompts.
    static func setUp(_ dir: TemporaryDirectory) throws -> (DaemonProcess, prompts: String) {
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        for (name, flags) in [("clean", [String]()), ("seamed", ["--seam"])] {
            let pipeline = PipelineDefinition(
                name: name, command: ["{bin}/spool-synthetic-worker"] + flags, chunking: .init(frames: 33),
                sizes: .init(default: FrameSize(width: 128, height: 96)))
            try JSONEncoder().encode(pipeline).write(to: URL(fileURLWithPath: pipelines + "/\(name).json"))
        }
        let prompts = dir.file("prompts.jsonl")
        try """
            {"id": "fox", "prompt": "a red fox runs through snow", "tags": ["motion"]}

            {"id": "sign", "prompt": "a neon sign that reads \\"OPEN\\", at night", "tags": ["text"]}
            {"prompt": "two friends talk on a bench, <b>autumn</b> & leaves", "frames": 66, "tags": ["people"]}
            """.write(toFile: prompts, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: pipelines, ["--virtual-slots", "2", "--default-pipeline", "clean"],
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
        return (daemon, prompts)
    }

    static func eval(_ prompts: String, _ out: String, server: String) throws -> ProcessResult {
        // 99 frames: three chunks, two boundaries, as QualityTests measures them.
        try runProcess([
            DaemonProcess.binary, "eval", prompts, "--pipelines", "clean,seamed", "--seeds", "2", "--frames", "99", "--out", out, "--server", server,
        ])
    }

    @Test func anEvaluationWritesItsReportFlagsTheSeamedPipelineAndARerunMakesNothingTwice() async throws {
        let dir = try TemporaryDirectory("eval")
        defer { dir.remove() }
        let (daemon, prompts) = try Self.setUp(dir)
        defer { daemon.stop() }
        let url = try await daemon.httpURL()
        let client = SpoolClient(server: URL(string: url)!)

        let first = try await onThread { try Self.eval(prompts, dir.file("first"), server: url) }
        try #require(first.status == 0, "spool eval failed: \(first.stderr)\n\(first.stdoutText)")
        print(first.stdoutText)
        #expect(first.stderr.contains("12 jobs: 12 submitted, 0 found by their idempotency key"), "\(first.stderr)")
        #expect(first.stderr.contains("eval [##############################] 12/12 done"), "a progress bar: \(first.stderr)")
        for file in ["report.html", "results.json", "results.csv"] {
            #expect(FileManager.default.fileExists(atPath: dir.file("first/\(file)")), "\(file) is written")
        }

        // results.json: 3 prompts × 2 pipelines × 2 seeds, every video made; the same seeds on each pipeline.
        let report = try JSONDecoder.spoolAPI.decode(EvalReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("first/results.json"))))
        #expect(report.results.count == 12 && report.results.allSatisfy { $0.state == .succeeded })
        #expect(Set(report.results.filter { $0.pipeline == "clean" }.map(\.seed)) == [1, 2])
        #expect(report.results.first { $0.promptID == "line-4" }?.videoSeconds == 66.0 / 24)
        let clean = try #require(report.summaries.first { $0.pipeline == "clean" })
        let seamed = try #require(report.summaries.first { $0.pipeline == "seamed" })
        print("eval: clean \(clean)\neval: seamed \(seamed)")
        // The seamed pipeline's seams are flagged, the clean one's not; both cost and latency are
        // measured. (The test pattern's colours cycle, so both drift: the flag says so for each.)
        #expect(seamed.flags.contains("seams"), "\(seamed)")
        #expect(!clean.flags.contains("seams"), "\(clean)")
        #expect(try #require(seamed.seamWorst) > 2 * (try #require(clean.seamWorst)))
        #expect(try #require(clean.gpuSecondsPerVideoSecond) > 0 && clean.latencyP95 != nil && clean.latencyP50! <= clean.latencyP95!)
        #expect(clean.coldStarts == 0, "per-job workers never wait for a model to load")

        // results.csv: a header and a row a job; the prompt with a comma and a quote quoted.
        let csv = try String(contentsOfFile: dir.file("first/results.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\r\n")
        #expect(rows.count == 13 && rows[0].hasPrefix("prompt_id,pipeline,seed,job_id,state"))
        #expect(csv.contains("\"a neon sign that reads \"\"OPEN\"\", at night\""), "\(csv)")

        // report.html: one page with everything inline, each prompt's posters side by side.
        let html = try String(contentsOfFile: dir.file("first/report.html"), encoding: .utf8)
        #expect(html.components(separatedBy: "src=\"data:image/png;base64,").count - 1 == 12, "a poster for every video")
        #expect(html.contains("<b>autumn</b>") == false && html.contains("&lt;b&gt;autumn&lt;/b&gt; &amp; leaves"), "prompts are escaped")
        #expect(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("<link") && !html.contains("url("), "nothing loads from elsewhere")

        // A rerun finds every job by its idempotency key: nothing is made twice.
        let before = try await client.list(limit: 100).jobs.count
        let second = try await onThread { try Self.eval(prompts, dir.file("second"), server: url) }
        try #require(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("12 jobs: 0 submitted, 12 found by their idempotency key"), "\(second.stderr)")
        #expect(try await client.list(limit: 100).jobs.count == before)
        let again = try JSONDecoder.spoolAPI.decode(EvalReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("second/results.json"))))
        #expect(again.results.map(\.jobID) == report.results.map(\.jobID) && again.results.allSatisfy(\.reused))

        // A bad prompts file is refused before anything is submitted, naming its line.
        try "{\"prompt\": \"ok\"}\n{\"id\": 3}\n".write(toFile: dir.file("bad.jsonl"), atomically: true, encoding: .utf8)
        let bad = try runProcess([DaemonProcess.binary, "eval", dir.file("bad.jsonl"), "--pipelines", "clean", "--server", url])
        #expect(bad.status == 64 && bad.stderr.contains("line 2"), "\(bad.status) \(bad.stderr)")
        #expect(try await client.list(limit: 100).jobs.count == before)
    }

    @Test func theShippedPromptsCoverMotionSceneChangesTextAndPeople() throws {
        let prompts = try EvalPrompt.read(Self.repository.appendingPathComponent("Samples/eval-prompts.jsonl").path)
        #expect(prompts.count >= 24)
        for tag in ["motion", "scene-change", "text", "people"] {
            #expect(prompts.filter { $0.tags.contains(tag) }.count >= 4, "at least four prompts test \(tag)")
        }
        #expect(prompts.allSatisfy { !$0.id.hasPrefix("line-") }, "every shipped prompt has a name")
    }

    @Test(.enabled(if: HeadlessBrowser.isAvailable))
    func theReportLoadsInChromiumWithoutAConsoleError() async throws {
        let dir = try TemporaryDirectory("eval-page")
        defer { dir.remove() }
        let (daemon, prompts) = try Self.setUp(dir)
        defer { daemon.stop() }
        let url = try await daemon.httpURL()
        let run = try await onThread { try Self.eval(prompts, dir.file("out"), server: url) }
        try #require(run.status == 0, "\(run.stderr)")

        let python = try #require(PythonTools.python)
        let page = try await onThread { try runProcess([python, Self.pageScript, dir.file("out/report.html")]) }
        try #require(page.status == 0, "the browser could not load the report: \(page.stderr.suffix(3_000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: page.stdout) as? [String: Any])
        print("report page: \(seen)")
        #expect((seen["console"] as? [Any])?.isEmpty == true, "console: \(seen["console"] ?? "")")
        #expect(seen["images"] as? Int == 12 && (seen["broken"] as? [Any])?.isEmpty == true, "\(seen)")
        #expect(seen["plots"] as? Int == 3)
        let flags = try #require(seen["flags"] as? [String: [String]])
        #expect(flags["seamed"]?.contains("seams") == true && flags["clean"]?.contains("seams") == false, "\(flags)")
    }
}
