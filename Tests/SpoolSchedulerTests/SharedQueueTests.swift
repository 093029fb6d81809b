import Foundation
import SpoolCore
import SpoolGenerators
import SpoolTesting
import Testing

/// Several real `spool serve` processes sharing one PostgreSQL queue, as several GPU hosts would.
@Suite("Shared PostgreSQL queue", .serialized, .enabled(if: PostgresTestServer.isAvailable))
struct SharedQueueTests {
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines").path

    func startHost(_ name: String, store: String, dir: TemporaryDirectory, slots: Int, extra: [String] = [], frameCostMs: Int) throws -> DaemonProcess {
        try DaemonProcess(
            arguments: [
                "--store", store, "--host", name, "--data", dir.file(name), "--videos", dir.file("videos"),
                "--gpus", "none", "--virtual-slots", String(slots), "--pipelines", Self.pipelines,
                "--listen", "127.0.0.1:0", "--no-drop-folder", "--preset", "ultrafast", "--log-level", "debug",
            ] + extra,
            log: dir.file("\(name).log"),
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": String(frameCostMs), "SPOOL_SYNTHETIC_STEPS": "1"])
    }

    func enqueue(_ count: Int, frames: Int, into store: any JobStore) async throws -> [JobID] {
        let synthetic = try PipelineCatalog.load(folder: Self.pipelines)["synthetic"]!
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
            let hosts = try ["a", "b"].map { try startHost($0, store: t.storeArgument, dir: dir, slots: 1, extra: lease, frameCostMs: 60) }
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
            // Let it heartbeat a few times, then kill its host outright.
            try await Task.sleep(for: .seconds(1))
            let victimName = try #require(running?.host)
            let victim = hosts[victimName == "a" ? 0 : 1]
            let survivor = hosts[victimName == "a" ? 1 : 0]
            victim.kill9()
            let ranFor = Date().timeIntervalSince(try #require(running?.timings.startedAt))
            defer { _ = OrphanReaper.reap(workFolder: dir.file(victimName) + "/work") }

            let done = try await waitUntilFinal([id], store: t.store, timeout: 60, hosts: [survivor])[0]
            #expect(done.state == .succeeded)
            #expect(done.host != victimName)
            let attempts = try await t.store.attempts(of: id)
            #expect(attempts.map(\.outcome) == [.lost, .generated])
            #expect(attempts[0].host == victimName)
            // The lost attempt is charged from its claim to the victim's last heartbeat: less
            // than it ran before the kill (not the lease's wait after it), and no more than a
            // heartbeat period (0.25 s) short of it, with as much again for a late timer on a
            // loaded machine.
            let charged = attempts[0].gpuSeconds
            #expect(charged <= ranFor + 0.01 && charged >= ranFor - 0.5, "lost attempt charged \(charged) s of the \(ranFor) s it ran")
            #expect(abs(done.gpuSeconds - attempts.map(\.gpuSeconds).reduce(0, +)) < 1e-6)
            #expect(survivor.output.contains("took back a job whose host stopped renewing its lease"))
        }
    }
}
