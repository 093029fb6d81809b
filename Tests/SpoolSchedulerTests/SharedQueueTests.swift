import Foundation
import SpoolAPIModel
import SpoolCore
import SpoolGenerators
import SpoolTesting
import Testing

/// Several real `spool serve` processes sharing one PostgreSQL queue, as several GPU hosts would.
@Suite("Shared PostgreSQL queue", .serialized, .takesTurns, .enabled(if: PostgresTestServer.isAvailable))
struct SharedQueueTests {
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines").path

    func startHost(
        _ name: String, store: String, dir: TemporaryDirectory, slots: Int, extra: [String] = [], frameCostMs: Int,
        environment: [String: String] = [:], dropFolder: Bool = false, pipelines: String = Self.pipelines
    ) throws -> DaemonProcess {
        try DaemonProcess(
            arguments: [
                "--store", store, "--host", name, "--data", dir.file(name), "--videos", dir.file("videos"),
                "--gpus", "none", "--virtual-slots", String(slots), "--pipelines", pipelines,
                "--listen", "127.0.0.1:0", "--preset", "ultrafast", "--log-level", "debug",
            ] + (dropFolder ? [] : ["--no-drop-folder"]) + extra,
            log: dir.file("\(name).log"),
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": String(frameCostMs), "SPOOL_SYNTHETIC_STEPS": "1"].merging(environment) { $1 })
    }

    func enqueue(
        _ count: Int, frames: Int, pipeline: String = "synthetic", catalog: String = Self.pipelines, into store: any JobStore
    ) async throws -> [JobID] {
        let synthetic = try PipelineCatalog.load(folder: catalog)[pipeline]!
        let requests = (0..<count).map { n in
            EnqueueRequest(
                spec: JobSpec(prompt: "job \(n)", frames: frames, width: 64, height: 48, seed: UInt64(n)).resolved(pipeline: synthetic, seed: 0),
                maxAttempts: 3, submittedAt: Date())
        }
        return try await store.enqueueAll(requests).map(\.job.id)
    }

    func waitUntilFinal(_ ids: [JobID], store: any JobStore, timeout: Double, hosts: [DaemonProcess]) async throws -> [Job] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let jobs = try await store.list(JobQuery(limit: 1_000)).jobs.filter { ids.contains($0.id) }
            if jobs.count == ids.count && jobs.allSatisfy(\.state.isFinal) { return jobs }
            try #require(Date() < deadline, "\(jobs.filter { !$0.state.isFinal }.count) jobs unfinished; \(hosts.map { $0.output.suffix(1_500) })")
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test func threeHostsRunTwoHundredJobsEachExactlyOnce() async throws {
        try await withStore(.postgres) { t in
            let dir = try TemporaryDirectory("shared")
            defer { dir.remove() }
            let hosts = try ["a", "b", "c"].map { try startHost($0, store: t.storeArgument, dir: dir, slots: 2, frameCostMs: 2) }
            defer { for host in hosts { host.stop() } }
            for host in hosts { try await host.waitForLog("dispatching") }
            let live = try await t.store.hosts()
            #expect(live.map(\.name) == ["a", "b", "c"])
            #expect(live.allSatisfy { $0.slots.count == 2 && $0.pipelines.contains("synthetic") })

            let ids = try await enqueue(200, frames: 8, into: t.store)
            let jobs = try await waitUntilFinal(ids, store: t.store, timeout: 240, hosts: hosts)
            #expect(jobs.allSatisfy { $0.state == .succeeded }, "\(jobs.filter { $0.state != .succeeded }.map { "\($0.id): \($0.error ?? "")" })")
            for job in jobs where job.attempts != 1 {
                let attempts = try await t.store.attempts(of: job.id)
                Issue.record("job \(job.id) took \(job.attempts) attempts: \(attempts.map { "\($0.host) \($0.outcome) \($0.error ?? "")" })")
            }
            for job in jobs.prefix(20) {
                #expect(try await t.store.attempts(of: job.id).map(\.outcome) == [.generated])
            }
            let videos = try FileManager.default.contentsOfDirectory(atPath: dir.file("videos")).filter { $0.hasSuffix(".mp4") }
            #expect(Set(videos) == Set(ids.map { "\($0).mp4" }), "one video per job, none missing, none extra")
            let byHost = Dictionary(grouping: jobs, by: { $0.host ?? "?" }).mapValues(\.count)
            #expect(byHost.count >= 2, "the work was shared: \(byHost)")

            for host in hosts { #expect(host.stop(), "a host ignored SIGTERM") }
            let left = try await t.store.hosts()
            #expect(left.isEmpty, "hosts leave the registry on a graceful stop: \(left.map(\.name)) \(hosts.map { $0.output.suffix(800) })")
        }
    }

    @Test func aKilledHostsJobFinishesOnAnotherAfterItsLeaseExpires() async throws {
        try await withStore(.postgres) { t in
            let dir = try TemporaryDirectory("shared-kill")
            defer { dir.remove() }
            let lease = ["--lease-seconds", "2", "--heartbeat-seconds", "0.25"]
            // Workers wait after their first chunk until the victim is dead.
            let gate = try WorkerGate()
            let hosts = try ["a", "b"].map {
                try startHost(
                    $0, store: t.storeArgument, dir: dir, slots: 1, extra: lease, frameCostMs: 5,
                    environment: ["SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)])
            }
            defer { for host in hosts { host.stop() } }
            for host in hosts { try await host.waitForLog("dispatching") }

            let id = try await enqueue(1, frames: 40, into: t.store)[0]
            var running: Job?
            let deadline = Date().addingTimeInterval(20)
            while running == nil {
                running = try await t.store.job(id).flatMap { $0.state == .running ? $0 : nil }
                try #require(Date() < deadline, "the job never started")
                try await Task.sleep(for: .milliseconds(20))
            }
            // Once its host has renewed its lease at least once, kill the host outright.
            let firstLease = try #require(running?.leaseExpiresAt)
            var renewedLease = firstLease
            try await until("the job's lease is renewed") {
                renewedLease = try await t.store.job(id)?.leaseExpiresAt ?? firstLease
                return renewedLease > firstLease
            }
            let victimName = try #require(running?.host)
            // A heartbeat writes the job's lease, then its attempt's heartbeat, then the host's,
            // each its own commit: wait for the last, so the kill cannot fall between them.
            let renewedAt = renewedLease.addingTimeInterval(-2)
            try await until("the heartbeat that renewed the lease is written whole") {
                try await t.store.hosts().first { $0.name == victimName }.map { $0.heartbeatAt >= renewedAt.addingTimeInterval(-0.001) } ?? false
            }
            let victim = hosts[victimName == "a" ? 0 : 1]
            let survivor = hosts[victimName == "a" ? 1 : 0]
            victim.kill9()
            let ranFor = Date().timeIntervalSince(try #require(running?.timings.startedAt))
            _ = OrphanReaper.reap(workFolder: dir.file(victimName) + "/work")
            gate.open()

            let done = try await waitUntilFinal([id], store: t.store, timeout: 60, hosts: [survivor])[0]
            #expect(done.state == .succeeded)
            #expect(done.host != victimName)
            let attempts = try await t.store.attempts(of: id)
            #expect(attempts.map(\.outcome) == [.lost, .generated])
            #expect(attempts[0].host == victimName)
            // The lost attempt is charged from its claim to the victim's last heartbeat: no
            // more than it ran before the kill (not the lease's wait after it), and no less than
            // up to the renewal seen above (a heartbeat at its lease minus the 2 s lease).
            let charged = attempts[0].gpuSeconds
            let seenRenewal = renewedLease.addingTimeInterval(-2).timeIntervalSince(try #require(running?.timings.startedAt))
            #expect(charged <= ranFor + 0.01 && charged >= seenRenewal - 0.001, "lost attempt charged \(charged) s of the \(ranFor) s it ran; a heartbeat came \(seenRenewal) s in")
            #expect(abs(done.gpuSeconds - attempts.map(\.gpuSeconds).reduce(0, +)) < 1e-6)
            #expect(survivor.output.contains("took back a job whose host stopped renewing its lease"))
        }
    }

    /// Each frame's MD5 as ffmpeg decodes it.
    static func frameHashes(_ path: String) throws -> [String] {
        let result = try runProcess(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"])
        return result.stdoutText.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.split(separator: ",").last ?? "") }
    }

    @Test func aKilledHostsJobResumesOnAnotherFromItsCheckpointToTheSameFrames() async throws {
        try await withStore(.postgres) { t in
            let dir = try TemporaryDirectory("shared-resume")
            defer { dir.remove() }
            // A pipeline that keeps checkpoints; the checkpoints folder is under the shared videos.
            let pipelines = dir.file("pipelines")
            try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
            try """
                {"name": "checkpointed", "command": ["{bin}/spool-synthetic-worker", "--checkpoints", "on"],
                 "chunking": {"frames": 8, "overlap": 0, "overlapPolicy": "drop"}, "sizes": {"default": "64x48"},
                 "checkpoints": true, "timeouts": {"startupSeconds": 30, "stallSeconds": 60}}
                """.write(toFile: pipelines + "/checkpointed.json", atomically: true, encoding: .utf8)
            let lease = ["--lease-seconds", "2", "--heartbeat-seconds", "0.25", "--default-pipeline", "checkpointed"]
            // Workers wait before their fourth chunk until the victim is dead.
            let gate = try WorkerGate()
            let hosts = try ["a", "b"].map {
                try startHost(
                    $0, store: t.storeArgument, dir: dir, slots: 1, extra: lease, frameCostMs: 0,
                    environment: ["SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 3)], pipelines: pipelines)
            }
            defer { for host in hosts { host.stop() } }
            for host in hosts { try await host.waitForLog("dispatching") }
            let id = try await enqueue(1, frames: 40, pipeline: "checkpointed", catalog: pipelines, into: t.store)[0]
            try await until("the job's checkpoint is after chunk 2") { try await t.store.job(id)?.checkpoint?.chunk == 2 }
            let victimName = try #require(try await t.store.job(id)?.host)
            let victim = hosts[victimName == "a" ? 0 : 1]
            let survivor = hosts[victimName == "a" ? 1 : 0]
            victim.kill9()
            _ = OrphanReaper.reap(workFolder: dir.file(victimName) + "/work")
            gate.open()

            let done = try await waitUntilFinal([id], store: t.store, timeout: 60, hosts: [survivor])[0]
            #expect(done.state == .succeeded && done.host != victimName)
            let attempts = try await t.store.attempts(of: id)
            #expect(attempts.map(\.outcome) == [.lost, .generated], "\(attempts)")
            #expect(attempts.last?.resumedFromFrame == 24, "\(attempts)")
            // The same job, uninterrupted, on the survivor: the same frames.
            let again = try await enqueue(1, frames: 40, pipeline: "checkpointed", catalog: pipelines, into: t.store)[0]
            let whole = try await waitUntilFinal([again], store: t.store, timeout: 60, hosts: [survivor])[0]
            let resumed = try Self.frameHashes(try #require(done.outputPath))
            #expect(resumed.count == 40)
            #expect(try resumed == Self.frameHashes(try #require(whole.outputPath)))
        }
    }

    @Test func aHostDrainingOnSIGTERMKeepsItsJobsLeasesAndAnswersUntilTheyEnd() async throws {
        try await withStore(.postgres) { t in
            let dir = try TemporaryDirectory("shared-drain")
            defer { dir.remove() }
            let gate = try WorkerGate()
            let lease = ["--lease-seconds", "2", "--heartbeat-seconds", "0.25", "--shutdown-grace", "120"]
            let hosts = try ["a", "b"].map {
                try startHost(
                    $0, store: t.storeArgument, dir: dir, slots: 1, extra: lease, frameCostMs: 5,
                    environment: ["SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)])
            }
            defer { for host in hosts { host.stop() } }
            for host in hosts { try await host.waitForLog("dispatching") }

            let id = try await enqueue(1, frames: 40, into: t.store)[0]
            var claimed: Job?
            try await until("the job runs") {
                claimed = try await t.store.job(id)
                return claimed?.state == .running
            }
            let runner = hosts[claimed?.host == "a" ? 0 : 1]
            let port = try await runner.httpPort()
            runner.send(SIGTERM)
            try await runner.waitForLog("shutting down: no new jobs")
            let drainingSince = Date()
            // Draining for longer than a lease: the lease keeper renews it all the while, so
            // the other host never takes the job back.
            try await until("the lease is renewed past two leases after SIGTERM") {
                let job = try #require(try await t.store.job(id))
                #expect(job.state == .running && job.host == claimed?.host && job.attempts == 1, "\(job.state) on \(job.host ?? "?")")
                return (job.leaseExpiresAt ?? .distantPast) > drainingSince.addingTimeInterval(4)
            }
            // The draining host still answers its clients.
            let poll = try await onThread { try RawHTTPConnection(port: port).get("/v1/jobs/\(id)") }
            #expect(poll.status == 200)
            #expect(String(decoding: poll.body, as: UTF8.self).contains(#""state":"running""#))

            gate.open()
            #expect(runner.stop(timeout: 60), "the draining host stopped once its job ended")
            let done = try #require(try await t.store.job(id))
            #expect(done.state == .succeeded && done.host == claimed?.host)
            #expect(try await t.store.attempts(of: id).map(\.outcome) == [.generated], "the job ran once")
        }
    }

    @Test func aJobRunOnAnotherHostIsFollowedWhereItWasSubmitted() async throws {
        try await withStore(.postgres) { t in
            let dir = try TemporaryDirectory("shared-follow")
            defer { dir.remove() }
            let gate = try WorkerGate()
            // A has no slot: whatever is submitted there runs on B.
            let a = try startHost("a", store: t.storeArgument, dir: dir, slots: 0, frameCostMs: 5, dropFolder: true)
            let b = try startHost(
                "b", store: t.storeArgument, dir: dir, slots: 1, frameCostMs: 5,
                environment: ["SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)])
            defer { for host in [a, b] { host.stop() } }
            for host in [a, b] { try await host.waitForLog("dispatching") }
            try await a.waitForLog("following job changes from other hosts")
            try await a.waitForLog("watching the drop folder")
            let port = try await a.httpPort()

            let submitted = try await onThread {
                try RawHTTPConnection(port: port).post("/v1/jobs", json: #"{"prompt": "a fox", "frames": 24, "width": 64, "height": 48}"#)
            }
            #expect(submitted.status == 201)
            let id = try #require((try JSONSerialization.jsonObject(with: Data(submitted.body)) as? [String: Any])?["id"] as? String)
            let inbox = dir.file("a") + "/inbox"
            try #"{"prompt": "a dropped fox", "frames": 24, "width": 64, "height": 48}"#.write(
                toFile: dir.file("fox.json"), atomically: false, encoding: .utf8)
            #expect(rename(dir.file("fox.json"), inbox + "/fox.json") == 0)

            let stream = try await onThread { try EventStreamClient(port: port, path: "/v1/jobs/\(id)/events") }
            #expect(stream.status == 200)
            let first = try #require(try await onThread { try stream.next() })
            #expect(first.name == "state")
            gate.open()
            let events = [first] + (try await onThread { try stream.rest() })
            let states = events.filter { $0.name == "state" }.compactMap { $0.json["state"] as? String }
            #expect(states.last == "succeeded", "\(events.map(\.name)) \(states)")
            #expect(states.contains("encoding"))
            #expect(events.contains { $0.name == "chunk" }, "B's chunks reach A's stream")

            let result = dir.file("a") + "/outbox/fox.json"
            try await until("A's drop folder writes the result of the job B ran") { FileManager.default.fileExists(atPath: result) }
            let resource = try JSONDecoder.spoolAPI.decode(JobResource.self, from: Data(contentsOf: URL(fileURLWithPath: result)))
            #expect(resource.state == .succeeded && resource.host == "b")
            #expect(try MediaProbe(path: dir.file("a") + "/outbox/fox.mp4").frames == 24)
        }
    }

    @Test func aHostHoldingTheModelReadyWinsItsJobsOverAColdOneAndABusyOneDoesNot() async throws {
        try await withStore(.postgres) { t in
            let dir = try TemporaryDirectory("shared-affinity")
            defer { dir.remove() }
            let gate = try WorkerGate()
            // A holds the resident model from the start; B would have to load it. B leaves new
            // jobs of that pipeline to A for up to 30 s while A has it ready on a free slot.
            let a = try startHost(
                "a", store: t.storeArgument, dir: dir, slots: 1, extra: ["--warm", "synthetic-resident"], frameCostMs: 1,
                environment: ["SPOOL_SYNTHETIC_LOAD_SECONDS": "0.2", "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)])
            let b = try startHost(
                "b", store: t.storeArgument, dir: dir, slots: 1, extra: ["--affinity-grace-seconds", "30"], frameCostMs: 1,
                environment: ["SPOOL_SYNTHETIC_LOAD_SECONDS": "0.2"])
            defer { for host in [a, b] { host.stop() } }
            for host in [a, b] { try await host.waitForLog("dispatching") }
            try await until("A says its model is ready") {
                try await t.store.hosts().first { $0.name == "a" }?.readyPipelines == ["synthetic-resident"]
            }
            gate.open()
            for _ in 0..<4 {
                let id = try await enqueue(1, frames: 8, pipeline: "synthetic-resident", into: t.store)[0]
                let done = try await waitUntilFinal([id], store: t.store, timeout: 60, hosts: [a, b])[0]
                #expect(done.state == .succeeded && done.host == "a" && done.coldStart == false, "\(done.host ?? "?"), cold \(String(describing: done.coldStart))")
            }
            // A busy with a job held at its gate: B takes the next one itself, without waiting
            // out the grace, and loads the model.
            gate.close()
            let held = try await enqueue(1, frames: 64, pipeline: "synthetic-resident", into: t.store)[0]
            try await until("A runs the held job") { try await t.store.job(held)?.progress.chunksDone ?? 0 >= 1 }
            #expect(try await t.store.job(held)?.host == "a")
            let next = try await enqueue(1, frames: 8, pipeline: "synthetic-resident", into: t.store)[0]
            let done = try await waitUntilFinal([next], store: t.store, timeout: 20, hosts: [a, b])[0]
            #expect(done.host == "b" && done.coldStart == true, "taken by the free host well within the 30 s grace")
            gate.open()
            #expect(try await waitUntilFinal([held], store: t.store, timeout: 60, hosts: [a, b])[0].state == .succeeded)
        }
    }
}
