import Foundation
import SpoolCore
import SpoolScheduler
import SpoolSQLite
import SpoolServer
import SpoolTesting
import Testing

/// A job's end is never lost: not to a store that refuses writes for a while, nor to an
/// execution that ended without writing one.
@Suite("Outcomes and orphans", .serialized)
struct OutcomeTests {
    @Test func anOutcomeTheStoreRefusesIsKeptAndWrittenWhenItAcceptsWritesAgain() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(pipelines: [Fixtures.synthetic(name: "gated", gate: gate, gateFromChunk: 1)], failingStore: true)
        defer { Task { await host.stop() } }
        let failing = try #require(host.failing)
        let job = try await host.submit(frames: 24, pipeline: "gated")
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }

        // The store refuses every write from here on, for longer than a write is retried.
        failing.failWrites(true)
        gate.open()
        try await until("the outcome is kept") { await host.host.dispatcher.pendingOutcomes.contains(job.id) }
        #expect(try await host.store.job(job.id)?.state == .running, "not written while the store refuses")
        #expect(await host.host.dispatcher.freeSlots.count == 1, "the slot is free meanwhile")
        let metrics = await SpoolMetrics(host: host.host).render()
        #expect(metrics.contains("spool_outcomes_pending 1\n") || metrics.contains("spool_outcomes_pending 2\n"), "\(metrics)")
        #expect(!metrics.contains("spool_store_write_failures_total 0\n"))

        failing.failWrites(false)
        let done = try await host.wait(for: job.id, state: .succeeded)
        #expect(try await host.store.attempts(of: job.id).map(\.outcome) == [.generated])
        #expect(try MediaProbe(path: try #require(done.outputPath)).frames == 24)
        try await until("nothing is kept") { await host.host.dispatcher.pendingOutcomes.isEmpty }
    }

    /// Self-fencing (issue 27): a host of a shared queue that cannot renew its leases stops its
    /// attempts once they have run out, since another host may take the jobs then; the job
    /// goes back to the queue when the store is back, its attempt `interrupted` (not counted),
    /// and runs again to
    /// the end. (A store of one host keeps its attempts going: the test above.)
    @Test func anAttemptWhoseLeaseRunsOutUnrenewedIsStoppedAndItsJobRequeued() async throws {
        let gate = try WorkerGate()
        let host = try await TestHost(
            pipelines: [Fixtures.synthetic(name: "gated", gate: gate, gateFromChunk: 1)], failingStore: true, sharedStore: true,
            configure: { $0.leaseSeconds = 1 })
        defer { Task { await host.stop() } }
        let failing = try #require(host.failing)
        let job = try await host.submit(frames: 24, pipeline: "gated")
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }

        // The store goes away with the attempt held at its gate: once its lease has run out
        // unrenewed, the attempt is stopped, though nothing else told it to.
        failing.failWrites(true)
        try await until("the attempt is stopped") { await host.host.dispatcher.runningJobs.isEmpty }
        #expect(try await host.store.job(job.id)?.state == .running, "nothing written while the store refuses")

        failing.failWrites(false)
        gate.open()
        let done = try await host.wait(for: job.id, state: .succeeded)
        // Stopped by this host itself, the attempt is not counted against the job's limit. (A
        // later attempt may be fenced too: with a 1 s lease, a renewal a loaded machine holds up
        // for a second is a lease run out. Each such attempt is spared the same way; one fenced
        // in its encode tail keeps the outcome `generated` it had already written.)
        let outcomes = try await host.store.attempts(of: job.id).map(\.outcome)
        #expect(outcomes.count >= 2 && outcomes.first == .interrupted && outcomes.last == .generated, "\(outcomes)")
        #expect(outcomes.allSatisfy { $0 == .interrupted || $0 == .generated }, "\(outcomes)")
        #expect(done.attempts == outcomes.count && done.sparedAttempts == outcomes.count - 1)
        #expect(try MediaProbe(path: try #require(done.outputPath)).frames == 24)
    }

    @Test func aJobTheStoreSaysRunsHereButNothingHoldsIsSettledByTheNextHeartbeat() async throws {
        let host = try await TestHost()
        defer { Task { await host.stop() } }
        // Once the dispatcher has started (and with it its start-up recovery, which would take
        // the job back for another reason), it registers the host.
        try await until("the host is registered") { try await host.store.hosts().contains { $0.name == "test-host" } }
        // Running on this host as far as the store knows, with no execution: as if the
        // execution had ended without its outcome. Its pipeline is one this host lacks, so
        // only the reconciler can touch it.
        let spec = JobSpec(prompt: "orphan", frames: 8, width: 64, height: 48, seed: 1, pipeline: "elsewhere")
        let id = try await host.store.enqueue(EnqueueRequest(spec: spec, maxAttempts: 3, submittedAt: Date())).job.id
        let claimed = try await host.store.claimNext(ClaimRequest(
            host: "test-host", gpu: "virtual0", pipelines: ["elsewhere"], now: Date(), leaseUntil: Date().addingTimeInterval(600)))
        #expect(claimed?.id == id)
        let settled = try await host.wait(for: id) { $0.state == .queued }
        #expect(settled.error?.contains("host test-host no longer ran attempt 1") == true, "\(settled.error ?? "")")
        #expect(try await host.store.attempts(of: id).map(\.outcome) == [.lost])
        #expect(host.host.statistics.snapshot.orphansSettled == 1)
    }
}
