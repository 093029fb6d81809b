import Foundation
import SpoolCore
import SpoolGenerators
import SpoolScheduler
import SpoolSQLite
import SpoolTesting
import Testing

/// Slots that keep a resident worker's model between jobs, through a whole host.
@Suite("Resident slots", .serialized)
struct ResidentSlotTests {
    func report(_ host: TestHost, _ slot: String = "virtual0") async -> SlotReport? {
        await host.host.dispatcher.slotReports.first { $0.slot.name == slot }
    }

    @Test func oneWorkerProcessServesJobAfterJobAndOnlyTheFirstWaitsForTheLoad() async throws {
        let host = try await TestHost(pipelines: [Fixtures.resident(loadSeconds: 0.3)])
        defer { Task { await host.stop() } }
        var jobs: [Job] = []
        var workers: Set<Int32> = []
        for _ in 0..<3 {
            let job = try await host.submit(frames: 16, pipeline: "resident")
            jobs.append(try await host.wait(for: job.id, state: .succeeded))
            if let pid = await report(host)?.workerPID { workers.insert(pid) }
        }
        #expect(workers.count == 1, "one process served every job: \(workers)")
        #expect(jobs[0].coldStart == true && (jobs[0].loadSeconds ?? 0) >= 0.3)
        #expect(jobs.dropFirst().allSatisfy { $0.coldStart == false && $0.loadSeconds == nil })
        let attempts = try await host.store.attempts(of: jobs[0].id)
        #expect(attempts.first?.coldStart == true && (attempts.first?.loadSeconds ?? 0) >= 0.3)
        let slot = try #require(await report(host))
        #expect(slot.state == .ready && slot.holds == "resident" && slot.jobsServed == 3 && slot.modelLoads == 1)
        #expect(slot.loadingSeconds >= 0.3 && slot.generatingSeconds > 0)
        // The load is not the job's GPU time: it is counted apart, on the slot.
        #expect(jobs.reduce(0) { $0 + $1.gpuSeconds } <= slot.generatingSeconds + 0.001)
    }

    @Test func aCancelledJobLeavesTheModelLoaded() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(pipelines: [Fixtures.resident(gate: gate, gateFromChunk: 1)])
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 24, pipeline: "resident")
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }
        let worker = try #require(await report(host)?.workerPID)
        try await host.host.dispatcher.cancel(job.id)
        try await until("the slot is free again") { await report(host)?.state == .ready }
        try await until("the attempt is closed as cancelled") { try await host.store.attempts(of: job.id).map(\.outcome) == [.cancelled] }
        gate.open()
        let next = try await host.wait(for: try await host.submit(frames: 16, pipeline: "resident").id, state: .succeeded)
        #expect(next.coldStart == false, "the same worker, its model kept")
        #expect(await report(host)?.workerPID == worker)
    }

    @Test func aWorkerThatIgnoresTheCancelIsKilledAndTheNextJobLoadsAfresh() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(pipelines: [
            Fixtures.resident(arguments: ["--fault", "ignore-cancel"], cancel: 0.3, gate: gate, gateFromChunk: 1),
        ])
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 24, pipeline: "resident")
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }
        let worker = try #require(await report(host)?.workerPID)
        try await host.host.dispatcher.cancel(job.id)
        try await until("the worker is killed") { WorkerLauncher.liveProcesses(inGroup: worker) == 0 }
        try await until("the slot is cold") { await report(host)?.state == .cold }
        gate.open()
        let next = try await host.wait(for: try await host.submit(frames: 16, pipeline: "resident").id, state: .succeeded)
        #expect(next.coldStart == true)
        #expect(await report(host)?.workerPID != worker)
    }

    @Test func aCrashFailsOnlyTheJobInFlight() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(slots: 2, pipelines: [
            Fixtures.resident(name: "fragile", arguments: ["--fault", "crash-at:1"]),
            Fixtures.resident(name: "steady", gate: gate, gateFromChunk: 1),
        ], maxAttempts: 1)
        defer { Task { await host.stop() } }
        let steady = try await host.submit(frames: 24, pipeline: "steady")
        try await host.wait(for: steady.id) { $0.progress.chunksDone >= 1 }
        let fragile = try await host.submit(frames: 24, pipeline: "fragile")
        let failed = try await host.wait(for: fragile.id, state: .failed)
        #expect(failed.error?.contains("the worker crashed: killed by signal 6") == true, "\(failed.error ?? "")")
        #expect(failed.error?.contains("synthetic fault: crashing at chunk 1") == true, "the worker's stderr is in the error")
        gate.open()
        #expect(try await host.wait(for: steady.id, state: .succeeded).attempts == 1, "the other job never noticed")
    }

    @Test func anotherPipelineEvictsTheModelAndAffinityKeepsEachOnItsSlot() async throws {
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.resident(name: "one"), Fixtures.resident(name: "two")])
        defer { Task { await host.stop() } }
        try await host.wait(for: try await host.submit(frames: 8, pipeline: "one").id, state: .succeeded)
        #expect(await report(host)?.holds == "one")
        let second = try await host.wait(for: try await host.submit(frames: 8, pipeline: "two").id, state: .succeeded)
        #expect(second.coldStart == true)
        let slot = try #require(await report(host))
        #expect(slot.holds == "two" && slot.modelLoads == 2)
    }

    @Test func eachJobGoesToTheSlotHoldingItsModel() async throws {
        let host = try await TestHost(slots: 2, pipelines: [Fixtures.resident(name: "one"), Fixtures.resident(name: "two")]) {
            $0.warm = ["one", "two"]
        }
        defer { Task { await host.stop() } }
        try await until("both slots are warm") { await host.host.dispatcher.slotReports.allSatisfy { $0.state == .ready } }
        let holders = Dictionary(uniqueKeysWithValues: await host.host.dispatcher.slotReports.map { ($0.holds!, $0.slot.name) })
        for pipeline in ["two", "one", "two", "one"] {
            let done = try await host.wait(for: try await host.submit(frames: 8, pipeline: pipeline).id, state: .succeeded)
            #expect(done.gpu == holders[pipeline], "\(pipeline) went to \(done.gpu ?? "?")")
            #expect(done.coldStart == false, "warmed before any job asked")
        }
        #expect(await host.host.dispatcher.slotReports.map(\.modelLoads) == [1, 1])
    }

    @Test func anIdleWorkerIsStoppedAndAWorkerIsRecycledAfterItsJobs() async throws {
        let host = try await TestHost(pipelines: [Fixtures.resident(name: "recycled", maxJobsPerWorker: 2)]) {
            $0.residentIdleSeconds = 3_600
        }
        defer { Task { await host.stop() } }
        for _ in 0..<3 { try await host.wait(for: try await host.submit(frames: 8, pipeline: "recycled").id, state: .succeeded) }
        #expect(await report(host)?.modelLoads == 2, "a second worker after the first served two jobs")

        let gate = try WorkerGate()
        let idle = try await TestHost(pipelines: [Fixtures.resident(name: "idle", gate: gate, gateFromChunk: 1)]) { $0.residentIdleSeconds = 0.2 }
        defer { Task { await idle.stop() } }
        let job = try await idle.submit(frames: 16, pipeline: "idle")
        try await idle.wait(for: job.id) { $0.progress.chunksDone >= 1 }
        let worker = try #require(await report(idle)?.workerPID, "busy, it is not idle")
        gate.open()
        try await idle.wait(for: job.id, state: .succeeded)
        try await until("the idle worker is stopped") { await report(idle)?.state == .cold }
        try await until("its process is gone") { WorkerLauncher.liveProcesses(inGroup: worker) == 0 }
    }

    @Test func aWorkerThatKeepsDyingBeforeReadyFailsJobsFastWithItsStderr() async throws {
        let host = try await TestHost(pipelines: [Fixtures.resident(name: "broken", arguments: ["--fault", "die-while-loading"])], maxAttempts: 1)
        defer { Task { await host.stop() } }
        var errors: [String] = []
        for _ in 0..<4 {
            let failed = try await host.wait(for: try await host.submit(frames: 8, pipeline: "broken").id, state: .failed)
            errors.append(failed.error ?? "")
        }
        #expect(errors.allSatisfy { $0.contains("dying while loading") }, "\(errors)")
        #expect(errors[3].contains("died before it was ready 3 times in a row"), "\(errors[3])")
        #expect(await report(host)?.modelLoads == 3, "not started a fourth time")
    }
}
