import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// Two real hosts sharing a real PostgreSQL queue that crashes mid-run (`pg_ctl -m
/// immediate`) and comes back (issue 27): every job ends with exactly one video, its own
/// frames, none fails for the outage; meanwhile doors answer "unavailable" fast, and a
/// dropped job file waits and is taken once the queue is back.
@Suite("A shared queue's outage", .serialized, .enabled(if: PostgresTestServer.isAvailable), .takesTurns)
struct StoreOutageTests {
    static let pipelines = CLITests.pipelines

    func startHost(_ name: String, url: String, dir: TemporaryDirectory, gate: WorkerGate) throws -> DaemonProcess {
        try DaemonProcess(
            arguments: [
                "--store", url, "--host", name, "--data", dir.file(name), "--videos", dir.file("videos"),
                "--gpus", "none", "--virtual-slots", "1", "--pipelines", Self.pipelines,
                "--listen", "127.0.0.1:0", "--preset", "ultrafast", "--log-level", "debug",
                "--lease-seconds", "3", "--heartbeat-seconds", "0.25", "--max-attempts", "1",
            ] + (name == "a" ? [] : ["--no-drop-folder"]),
            log: dir.file("\(name).log"),
            environment: [
                "SPOOL_SYNTHETIC_FRAME_COST_MS": "2", "SPOOL_SYNTHETIC_STEPS": "1",
                "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 2),
            ])
    }

    @Test func twoHostsRideOutADatabaseCrashAndPublishEachVideoOnce() async throws {
        let server = try PrivatePostgresServer()
        defer { server.remove() }
        let dir = try TemporaryDirectory("outage")
        // SPOOL_KEEP_OUTAGE=1 keeps the hosts' logs and files for reading after a failure.
        defer { if ProcessInfo.processInfo.environment["SPOOL_KEEP_OUTAGE"] == nil { dir.remove() } else { print("kept \(dir.path)") } }
        // Every worker waits before its third chunk (of four) until the gate opens: each host holds a
        // job mid-generation when the database goes away.
        let gate = try WorkerGate()
        let hosts = try ["a", "b"].map { try startHost($0, url: server.url, dir: dir, gate: gate) }
        defer { for host in hosts { host.stop() } }
        for host in hosts { try await host.waitForLog("dispatching") }
        let client = SpoolClient(server: URL(string: try await hosts[0].httpURL())!)
        let specs = (0..<6).map { JobSpec(prompt: "outage \($0)", frames: 132, width: 64, height: 48, seed: UInt64($0)) }
        var submitted: [String] = []
        for spec in specs { submitted.append(try await client.submit(spec).job.id) }
        let ids = submitted
        try await until("each host holds a job at the gate") {
            let jobs = try await client.list(states: [.running]).jobs
            return Set(jobs.compactMap(\.host)) == ["a", "b"] && jobs.allSatisfy { $0.progress.chunksDone >= 2 }
        }
        let held = try await client.list(states: [.running]).jobs.map(\.id)

        try server.crash()
        // A door answers at once that the queue is unreachable, and takes nothing.
        var refusal: ClientError?
        do {
            _ = try await client.submit(JobSpec(prompt: "while down", frames: 8, width: 64, height: 48))
        } catch {
            refusal = error
        }
        guard case .api(let status, let code, let message, _)? = refusal else {
            Issue.record("a submission while the queue is down was not refused as unavailable: \(String(describing: refusal))")
            return
        }
        #expect(status == 503 && code == "queue_unavailable", "\(status) \(code) \(message)")
        #expect(message.contains("cannot be reached"), "\(message)")
        let cli = try runProcess([
            CLITests.spool, "submit", "--server", try await hosts[1].httpURL(), "--prompt", "while down", "--frames", "8",
        ])
        #expect(cli.status == 75, "spool submit while the queue is down: \(cli.status) \(cli.stderr)")
        // A job file dropped now stays claimed and is submitted once the queue is back.
        try Data(#"{"prompt": "dropped while down", "frames": 24, "width": 64, "height": 48}"#.utf8)
            .write(to: URL(fileURLWithPath: dir.file("a/inbox/outage.json.tmp")))
        #expect(rename(dir.file("a/inbox/outage.json.tmp"), dir.file("a/inbox/outage.json")) == 0)
        try await hosts[0].waitForLog("could not submit from the drop folder; will try again")
        // Past their last renewed lease, both hosts stop their attempts (self-fencing).
        for host in hosts { try await host.waitForLog("stopped an attempt whose lease ran out", timeout: 90) }
        gate.open()

        try server.start()
        try await until("the dropped job file has its result", stalledFor: 120, progress: { hosts.map { $0.output.count } }) {
            FileManager.default.fileExists(atPath: dir.file("a/outbox/outage.json"))
        }
        try await until("every job has ended", stalledFor: 120, progress: { try await client.list(limit: 100).jobs.filter(\.state.isFinal).count }) {
            let jobs = try await client.list(limit: 100).jobs
            return jobs.count == ids.count + 1 && jobs.allSatisfy(\.state.isFinal)
        }
        let jobs = try await client.list(limit: 100).jobs
        #expect(jobs.allSatisfy { $0.state == .succeeded }, "\(jobs.map { "\($0.id) \($0.state) \($0.error ?? "")" }) \(hosts.map { $0.output.suffix(3_000) })")

        // Exactly one video per job, no attempt's partial file left behind, each decodable
        // with the job's frames.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.file("videos")).filter { !$0.hasPrefix(".") || $0.hasSuffix(".part") }
        #expect(Set(files.filter { $0.hasSuffix(".mp4") }) == Set(jobs.map { "\($0.id).mp4" }), "\(files)")
        #expect(!files.contains { $0.hasSuffix(".part") }, "\(files)")
        for job in jobs {
            #expect(try MediaProbe(path: dir.file("videos/\(job.id).mp4")).frames == job.spec.frames, "\(job.id)")
        }
        // The held jobs: stopped by the fence (not counted: one attempt allowed), then run whole.
        for id in held {
            let attempts = try await client.attempts(id).attempts
            #expect(attempts.first?.outcome == .interrupted && attempts.last?.outcome == .generated, "\(id): \(attempts)")
            #expect(try await client.job(id).sparedAttempts >= 1)
        }
        // And their frames are those of the same job run again without an outage.
        let first = try #require(jobs.first { $0.id == held.first })
        let again = try await client.submit(first.spec.withoutIdempotency()).job
        try await until("the rerun succeeded") { try await client.job(again.id).state == .succeeded }
        #expect(try CheckpointTests.frameHashes(dir.file("videos/\(first.id).mp4")) == CheckpointTests.frameHashes(dir.file("videos/\(again.id).mp4")))
    }
}

extension JobSpec {
    fileprivate func withoutIdempotency() -> JobSpec {
        var spec = self
        spec.idempotencyKey = nil
        spec.outputName = nil
        return spec
    }
}
