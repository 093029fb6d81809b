import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolScheduler
import SpoolSQLite
import SpoolTesting
import Testing

/// Issue 30, routing: a job naming `"pipeline": "auto"` gets the first candidate of its tier in
/// `routes.json` that takes it, that a live host can run, that is not failing, and that meets its
/// deadline and budget by its measured history (its file's prior until it has one). The job
/// records the choice; a job no candidate fits is refused with 422 naming each; a routed job whose
/// attempt fails moves to the next candidate. Real daemons and real worker processes throughout.
@Suite("Routing")
struct RoutingTests {
    /// A synthetic pipeline file in `folder`.
    static func writePipeline(
        _ folder: String, _ name: String, flags: [String] = [], maxFrames: Int = JobSpec.maxFrames, prior: PipelineDefinition.Prior? = nil,
        requiresCUDA: Bool = false
    ) throws {
        let pipeline = PipelineDefinition(
            name: name, command: ["{bin}/spool-synthetic-worker"] + flags, chunking: .init(frames: 8),
            sizes: .init(default: FrameSize(width: 64, height: 48)), maxFrames: maxFrames, requiresCUDA: requiresCUDA, prior: prior)
        try JSONEncoder().encode(pipeline).write(to: URL(fileURLWithPath: folder + "/\(name).json"))
    }

    static func writeRoutes(_ folder: String, _ table: RouteTable) throws {
        try JSONEncoder().encode(table).write(to: URL(fileURLWithPath: folder + "/" + RouteTable.fileName))
    }

    /// POSTs `body` to `path` and returns the status and the body as JSON.
    static func post(_ url: String, _ path: String, _ body: [String: Any]) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    @Test func eachTierIsChosenByTheRouteFileAndACandidateThatCannotTakeTheJobIsPassedOver() async throws {
        let dir = try TemporaryDirectory("routing-tiers")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        try Self.writePipeline(pipelines, "short", maxFrames: 8)
        try Self.writePipeline(pipelines, "fast")
        try Self.writePipeline(pipelines, "good")
        try Self.writePipeline(pipelines, "top")
        try Self.writePipeline(pipelines, "gpu-only", requiresCUDA: true)
        try Self.writeRoutes(pipelines, RouteTable(tiers: [
            .draft: ["short", "fast", "good"], .standard: ["good", "fast"], .best: ["gpu-only", "top", "good"],
        ]))
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: pipelines, ["--default-pipeline", "fast"], environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)

        var ids: [RouteTier?: String] = [:]
        for tier in [RouteTier.draft, .standard, .best, nil] {
            let submitted = try await client.submit(JobSpec(prompt: "a fox", frames: 24, seed: 1, pipeline: JobSpec.autoPipeline, tier: tier)).job
            ids[tier] = submitted.id
        }
        try await until("every routed job ends") {
            var states: [JobState] = []
            for id in ids.values { states.append(try await client.job(id).state) }
            return states.allSatisfy(\.isFinal)
        }
        let expected: [RouteTier?: String] = [.draft: "fast", .standard: "good", .best: "top", nil: "good"]
        for (tier, id) in ids {
            let job = try await client.job(id)
            #expect(job.state == .succeeded, "\(String(describing: tier)): \(job.error ?? "")")
            #expect(job.spec.pipeline == expected[tier], "tier \(String(describing: tier)) ran on \(job.spec.pipeline ?? "")")
            let routing = try #require(job.routing, "a routed job records its routing")
            #expect(routing.tier == tier ?? .standard && routing.chosen == expected[tier])
            // The stored spec says what ran: the pipeline chosen, no routing fields.
            #expect(job.spec.tier == nil && job.progress.framesDone == 24)
            print("routing \(routing.tier): \(routing.reason)")
        }
        // Draft: "short" makes at most 8 frames, so it was passed over, and the job says why.
        let draftID = try #require(ids[.draft]), bestID = try #require(ids[.best])
        let draft = try #require(try await client.job(draftID).routing)
        #expect(draft.candidates.map(\.pipeline) == ["short", "fast", "good"])
        #expect(draft.candidates[0].fits == false && draft.candidates[0].reason.contains("pipeline short makes at most 8"), "\(draft.candidates[0])")
        #expect(draft.candidates[1].fits && draft.candidates[2].fits)
        #expect(draft.reason.contains("short did not"), "\(draft.reason)")
        // Best: no live host has the CUDA GPU "gpu-only" needs.
        let best = try #require(try await client.job(bestID).routing)
        #expect(best.candidates[0].fits == false && best.candidates[0].reason.contains("no live host can run it"), "\(best.candidates[0])")

        // The videos API routes too: `model: "auto"` with a tier; the video names the pipeline chosen.
        let (status, video) = try await Self.post(try await daemon.httpURL(), "/v1/videos", ["prompt": "a fox", "model": "auto", "tier": "best", "seconds": "1"])
        #expect(status == 200, "\(video)")
        #expect(video["model"] as? String == "top", "\(video)")
        let (badTier, body) = try await Self.post(try await daemon.httpURL(), "/v1/videos", ["prompt": "a fox", "model": "auto", "tier": "cheapest"])
        #expect(badTier == 422 && "\(body)".contains("tier"), "\(body)")
        // The CLI routes too, and `spool status` says how.
        let submitted = try runProcess([
            DaemonProcess.binary, "submit", "--prompt", "a fox", "--frames", "24", "--pipeline", "auto", "--tier", "draft", "--wait",
            "--server", try await daemon.httpURL(),
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let firstLine = try #require(submitted.stderr.split(separator: "\n").first, "\(submitted.stderr)")
        let id = try #require(firstLine.split(separator: " ").last.map(String.init))
        let described = try runProcess([DaemonProcess.binary, "status", id, "--server", try await daemon.httpURL()])
        #expect(described.stdoutText.contains("routing  tier draft: fast, the first candidate of tier draft that fits (short did not)"), "\(described.stdoutText)")
        #expect(described.stdoutText.contains("passed over short: does not take this job: frames is 24; pipeline short makes at most 8"), "\(described.stdoutText)")

        // The served document says which requests route: pipeline auto, the tiers routes.json has.
        let (document, _) = try await URLSession.shared.data(from: URL(string: try await daemon.httpURL() + "/openapi.json")!)
        let schemas = try #require(((try JSONSerialization.jsonObject(with: document) as? [String: Any])?["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let pipelineEnum = ((schemas["JobSpec"] as? [String: Any])?["properties"] as? [String: Any])?["pipeline"] as? [String: Any]
        #expect((pipelineEnum?["enum"] as? [Any])?.contains { $0 as? String == "auto" } == true, "\(pipelineEnum ?? [:])")

        // Routing fields on a job that names its pipeline are refused, not ignored.
        let (named, namedBody) = try await Self.post(try await daemon.httpURL(), "/v1/jobs", ["prompt": "a fox", "frames": 24, "pipeline": "fast", "tier": "best"])
        #expect(named == 422 && "\(namedBody)".contains("applies only to a routed job"), "\(namedBody)")
    }

    @Test func aDeadlineOrBudgetNoCandidateCanMeetIsRefusedWith422NamingEachAndHistoryReplacesThePrior() async throws {
        let dir = try TemporaryDirectory("routing-deadline")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        // "slow" claims 50 GPU-seconds per video second and a 20 s load; "unknown" states nothing
        // and has no history; "measured" states nothing but will have run three videos.
        try Self.writePipeline(pipelines, "slow", prior: .init(gpuSecondsPerVideoSecond: 50, loadSeconds: 20))
        try Self.writePipeline(pipelines, "unknown")
        try Self.writePipeline(pipelines, "measured")
        try Self.writeRoutes(pipelines, RouteTable(tiers: [.draft: ["unknown", "slow"], .best: ["unknown", "measured"]], minHistory: 3))
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: pipelines, ["--default-pipeline", "measured"], environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
        defer { daemon.stop() }
        let url = try await daemon.httpURL()
        let client = SpoolClient(server: URL(string: url)!)

        // 48 frames = 2 s of video: "slow" expects 20 + 100 s.
        let (status, body) = try await Self.post(url, "/v1/jobs", ["prompt": "a fox", "frames": 48, "pipeline": "auto", "tier": "draft", "deadlineSeconds": 30])
        #expect(status == 422, "\(body)")
        let error = body["error"] as? [String: Any]
        let issues = try #require(error?["issues"] as? [[String: Any]], "\(body)")
        let reasons = issues.compactMap { $0["reason"] as? String }
        print("refused: \(reasons)")
        #expect(reasons.contains { $0.hasPrefix("candidate unknown of tier draft") && $0.contains("no measured history") })
        #expect(reasons.contains { $0.hasPrefix("candidate slow of tier draft") && $0.contains("about 120 s") && $0.contains("the deadline is 30.0 s") })
        #expect(issues.allSatisfy { $0["field"] as? String == "deadlineSeconds" })
        // A budget it cannot meet, the same way.
        let (overBudget, budgetBody) = try await Self.post(url, "/v1/jobs", ["prompt": "a fox", "frames": 48, "pipeline": "auto", "tier": "draft", "maxGpuSeconds": 10])
        #expect(overBudget == 422 && "\(budgetBody)".contains("the budget is 10.0 GPU-seconds"), "\(budgetBody)")
        // Nothing was queued by the refusals.
        #expect(try await client.list().jobs.isEmpty)

        // A deadline the prior meets is taken, and the job says on what grounds.
        let taken = try await client.submit(JobSpec(prompt: "a fox", frames: 48, pipeline: "auto", tier: .draft, deadlineSeconds: 600)).job
        let routing = try #require(taken.routing)
        #expect(taken.spec.pipeline == "slow" && routing.deadlineSeconds == 600)
        #expect(routing.candidates[1].reason.contains("the prior in its file"), "\(routing.candidates[1].reason)")
        #expect(routing.candidates[1].estimatedSeconds == 120)

        // "measured" runs three videos; from then on its own history is the estimate.
        var made: [String] = []
        for seed in 1...3 { made.append(try await client.submit(JobSpec(prompt: "a fox", frames: 48, seed: UInt64(seed), pipeline: "measured")).job.id) }
        made.append(taken.id)
        try await until("the measured videos are made") {
            var states: [JobState] = []
            for id in made { states.append(try await client.job(id).state) }
            return states.allSatisfy { $0 == .succeeded }
        }
        let routed = try await client.submit(JobSpec(prompt: "a fox", frames: 48, pipeline: "auto", tier: .best, deadlineSeconds: 600)).job
        let best = try #require(routed.routing)
        #expect(routed.spec.pipeline == "measured", "\(best)")
        #expect(best.candidates[0].fits == false)
        #expect(best.candidates[1].reason.contains("by its history of 3 videos"), "\(best.candidates[1].reason)")
        #expect(try #require(best.candidates[1].estimatedSeconds) < 600)
    }

    @Test func aFailingPipelineIsPassedOverAndTheRoutedJobStillSucceeds() async throws {
        // "broken" fails every attempt; after two in a row it is passed over for an hour.
        let host = try await TestHost(
            pipelines: [Fixtures.synthetic(name: "broken", arguments: ["--fault", "exit-at:0"]), Fixtures.synthetic(name: "fallback")],
            routes: RouteTable(tiers: [.draft: ["broken", "fallback"]], skipFailing: .init(after: 2, forSeconds: 3_600)))
        defer { Task { await host.stop() } }
        func routed() async throws -> Job {
            try await host.host.submitter.submit(JobSpec(prompt: "a fox", frames: 16, pipeline: "auto", tier: .draft)).job
        }

        // Two jobs go to "broken", fail there, and move to "fallback" for their retry.
        for _ in 1...2 {
            let job = try await routed()
            #expect(job.pipeline == "broken")
            let done = try await host.wait(for: job.id) { $0.state.isFinal }
            #expect(done.state == .succeeded, "\(done.error ?? "")")
            #expect(done.pipeline == "fallback" && done.attempts == 2)
            let routing = try #require(done.routing)
            #expect(routing.chosen == "fallback" && routing.moves.count == 1)
            #expect(routing.moves.first?.from == "broken" && routing.moves.first?.afterAttempt == 1)
            let attempts = try await host.store.attempts(of: job.id)
            #expect(attempts.map(\.outcome) == [.failed, .generated])
        }
        // The third is routed past it, says why, and succeeds on its first attempt.
        let third = try await routed()
        let routing = try #require(third.routing)
        #expect(third.pipeline == "fallback", "\(routing)")
        #expect(routing.candidates[0].fits == false && routing.candidates[0].reason.contains("is failing: its last 2 attempts failed"), "\(routing.candidates[0].reason)")
        let done = try await host.wait(for: third.id) { $0.state.isFinal }
        #expect(done.state == .succeeded && done.attempts == 1)
    }
}
