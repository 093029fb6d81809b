import ArgumentParser
import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolMedia

/// `spool eval`: runs a set of prompts on several pipelines with the same seeds through a
/// daemon, and writes what each pipeline cost and how its videos measured (issue 30).
struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare pipelines on your own prompts: writes report.html, results.json and results.csv.",
        discussion: """
            Every prompt runs on every pipeline with the same seeds (1…N). Each job's idempotency key is a
            digest of its prompt, pipeline, seed, frames and size, so running the same evaluation again
            finds the videos made already instead of making them twice; a changed prompt makes new ones.
            """)

    @Argument(help: "The prompts: JSON lines, one object a line with \"prompt\" and optionally \"id\", \"frames\", \"negativePrompt\", \"tags\" (see Samples/eval-prompts.jsonl).")
    var prompts: String
    @Option(help: "The pipelines to compare, comma-separated (e.g. helios-distilled,ltx-video).") var pipelines: String
    @Option(help: "Seeds per prompt: 1, 2, … N, the same on every pipeline.") var seeds: Int = 1
    @Option(help: "Frames of a prompt that names none (24 a second).") var frames: Int = 48
    @Option(help: "Frame size WIDTHxHEIGHT for every job; each pipeline's default when absent.") var size: String?
    @Option(help: "The folder to write the report in. Default: eval-YYYYMMDD-HHMMSS.") var out: String?
    @Option(help: "Width of each poster in the report, in pixels.") var posterWidth: Int = 192
    @OptionGroup var options: ClientOptions

    func validate() throws {
        if !(1...16).contains(seeds) { throw ValidationError("--seeds must be 1…16") }
        if !(1...JobSpec.maxFrames).contains(frames) { throw ValidationError("--frames must be 1…\(JobSpec.maxFrames)") }
        if !(16...1_024).contains(posterWidth) { throw ValidationError("--poster-width must be 16…1024") }
        if pipelineNames.isEmpty { throw ValidationError("--pipelines must name at least one pipeline") }
        if Set(pipelineNames).count != pipelineNames.count { throw ValidationError("--pipelines names a pipeline twice") }
    }

    var pipelineNames: [String] {
        pipelines.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let client = try options.client()
        var frameSize: FrameSize?
        if let size {
            guard let parsed = FrameSize(parsing: size) else { throw ValidationError("--size must be WIDTHxHEIGHT, not \(size)") }
            frameSize = parsed
        }
        let plan: EvalPlan
        do {
            plan = EvalPlan(prompts: try EvalPrompt.read(prompts), pipelines: pipelineNames, seeds: seeds, frames: frames, size: frameSize)
        } catch let error as EvalError {
            throw ValidationError(error.description)
        }
        let folder = out ?? "eval-" + Self.stamp()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)

        // Submit every case; a repeated key hands back the job an earlier run made.
        let cases = plan.cases
        var jobs: [JobResource] = []
        var reused: [Bool] = []
        let progress = EvalProgress(total: cases.count)
        for evalCase in cases {
            let spec = evalCase.spec
            let (job, created) = try await withClient { () throws(ClientError) in try await client.submit(spec) }
            jobs.append(job)
            reused.append(!created)
            progress.show(jobs, phase: "submitting")
        }
        let found = reused.filter { $0 }.count
        progress.say("\(cases.count) jobs: \(cases.count - found) submitted, \(found) found by their idempotency key")

        // Wait for every job to end.
        while jobs.contains(where: { !$0.state.isFinal }) {
            for index in jobs.indices where !jobs[index].state.isFinal {
                let id = jobs[index].id
                jobs[index] = try await withClient { () throws(ClientError) in try await client.job(id) }
            }
            progress.show(jobs, phase: "running")
            if jobs.contains(where: { !$0.state.isFinal }) { try await Task.sleep(for: .milliseconds(500)) }
        }
        progress.finish(jobs)

        // Each made video's poster, small, for the report.
        var posters: [String: Data] = [:]
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spool-eval-\(UUID().uuidString).png").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for job in jobs where job.state == .succeeded && job.posterURL != nil {
            let id = job.id
            do {
                let png = try await withClient { () throws(ClientError) in try await client.poster(id) }
                try png.write(to: URL(fileURLWithPath: scratch))
                posters[id] = try PosterWriter.thumbnail(ofImageAt: scratch, width: posterWidth)
            } catch {
                progress.say("job \(id): its poster could not be read (\(error)); the report shows none")
            }
        }

        let results = zip(cases, zip(jobs, reused)).map { EvalResult(case: $0, job: $1.0, reused: $1.1) }
        let report = EvalReport(generatedAt: Date(), server: client.server.absoluteString, plan: plan, results: results, posters: posters)
        try report.json().write(to: URL(fileURLWithPath: folder + "/results.json"))
        try Data(report.csv().utf8).write(to: URL(fileURLWithPath: folder + "/results.csv"))
        try Data(report.html().utf8).write(to: URL(fileURLWithPath: folder + "/report.html"))

        if options.json {
            try options.printJSON(report.summaries)
        } else {
            for s in report.summaries {
                let cost = s.gpuSecondsPerVideoSecond.map { String(format: "%.3f GPU-s per video-s", $0) } ?? "no video made"
                let latency = s.latencyP50.map { String(format: ", latency p50 %.1f s", $0) } ?? ""
                let seam = s.seamWorst.map { String(format: ", worst seam %.2f", $0) } ?? ""
                let flags = s.flags.isEmpty ? "" : "  [" + s.flags.joined(separator: ", ") + "]"
                print("\(s.pipeline): \(s.succeeded)/\(s.jobs) made, \(cost)\(latency)\(seam)\(flags)")
            }
            print("report: \(folder)/report.html")
        }
    }

    static func stamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }
}

/// The evaluation's progress on standard error: a bar redrawn in place on a terminal, a line
/// each time it moves otherwise.
final class EvalProgress {
    let total: Int
    let live = isatty(STDERR_FILENO) != 0
    private var last = ""

    init(total: Int) { self.total = total }

    func show(_ jobs: [JobResource], phase: String) {
        let done = jobs.filter { $0.state.isFinal }.count
        let failed = jobs.filter { $0.state == .failed || $0.state == .cancelled }.count
        let running = jobs.filter { $0.state == .running || $0.state == .encoding }.count
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        let line = "eval \(bar) \(done)/\(total) done, \(running) running, \(failed) failed (\(phase) \(jobs.count)/\(total))"
        guard line != last else { return }
        last = line
        FileHandle.standardError.write(Data((live ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish(_ jobs: [JobResource]) {
        show(jobs, phase: "done")
        if live { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    func say(_ text: String) {
        FileHandle.standardError.write(Data(((live ? "\r\u{1B}[K" : "") + text + "\n").utf8))
    }
}
