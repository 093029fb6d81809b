import Foundation
import SpoolCore
import SpoolPostgres
import SpoolTesting
import Testing

/// A heartbeat is one request that renews and reports (issue 33); both stores answer alike.
@Suite("Heartbeats")
struct HeartbeatTests {
    @Test(arguments: StoreKind.available)
    func aHeartbeatRenewsAndSaysWhereEachAttemptStands(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let mine = try await store.enqueue(Fixtures.request()).job.id
            let cancelled = try await store.enqueue(Fixtures.request()).job.id
            let taken = try await store.enqueue(Fixtures.request()).job.id
            for gpu in ["gpu0", "gpu1", "gpu2"] { _ = try #require(try await t.claim(gpu, host: "h1")) }
            try await store.update(cancelled, to: .cancelled, JobUpdate(at: clock.now(), error: "cancelled"))
            // Another host took the third job over after its lease ran out.
            clock.advance(by: 31)
            _ = try await store.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: clock.now(), keeping: [mine, cancelled]))
            _ = try #require(try await t.claim("gpu9", host: "h2"))
            let until = clock.now() + 30
            let report = try await store.heartbeat(Heartbeat(
                host: "h1", leaseUntil: until, now: clock.now(), running: [mine: 1, cancelled: 1, taken: 1, JobID("gone"): 1],
                keeping: [mine, cancelled, taken]))
            #expect(report.standings == [
                mine: JobStanding(state: .running, host: "h1", attempt: 1),
                cancelled: JobStanding(state: .cancelled, host: "h1", attempt: 1),
                taken: JobStanding(state: .running, host: "h2", attempt: 2),
            ])
            #expect(report.standings[mine]?.stop(attempt: 1, on: "h1") == nil)
            #expect(report.standings[cancelled]?.stop(attempt: 1, on: "h1") == .cancelled)
            #expect(report.standings[taken]?.stop(attempt: 1, on: "h1") == .taken("the store took attempt 1 back; the job is now attempt 2 on host h2"))
            #expect(try await store.job(mine)?.leaseExpiresAt == until, "the lease is renewed")
            #expect(!report.orphans && !report.workWaiting)
        }
    }

    @Test(arguments: StoreKind.available)
    func aHeartbeatSaysWhenLeasesRanOutOrphansWaitOrAJobIsDue(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let beat = { (host: String, keeping: Set<JobID>, free: Int) in
                try await store.heartbeat(Heartbeat(
                    host: host, leaseUntil: clock.now() + 30, now: clock.now(), keeping: keeping, freeSlots: free,
                    idlePipelines: ["synthetic"]))
            }
            #expect(try await beat("h1", [], 1) == HeartbeatReport(), "an empty queue: nothing to do")
            let held = try await store.enqueue(Fixtures.request()).job.id
            _ = try #require(try await t.claim(host: "h1"))
            clock.advance(by: 1)
            #expect(try await beat("h1", [held], 0) == HeartbeatReport())
            #expect(try await beat("h1", [], 0).orphans, "the store has a job running here that the host does not hold")
            #expect(try await !beat("h2", [], 0).orphans, "not another host's")

            let retry = try await store.enqueue(Fixtures.request()).job.id
            _ = try #require(try await t.claim(host: "h2"))
            try await store.update(retry, to: .queued, JobUpdate(attempt: 1, at: clock.now(), error: "x", notBefore: clock.now() + 10, endAttempt: .failed))
            #expect(try await !beat("h2", [], 1).workWaiting, "a retry not yet due")
            clock.advance(by: 10)
            func waiting(since: Date) async throws -> Bool {
                try await store.heartbeat(Heartbeat(
                    host: "h2", leaseUntil: clock.now() + 30, now: clock.now(), freeSlots: 1, idlePipelines: ["synthetic"],
                    waitingSince: since)).workWaiting
            }
            #expect(try await waiting(since: clock.now() - 1), "a retry due now waits at once: its wake-up came at the requeue")
            try await store.update(retry, to: .cancelled, JobUpdate(at: clock.now(), error: "done"))
            _ = try await store.enqueue(Fixtures.request(at: clock.now()))
            #expect(try await !waiting(since: clock.now() - 1), "submitted less than a heartbeat ago: its wake-up is on its way")
            clock.advance(by: 1)
            #expect(try await waiting(since: clock.now() - 1), "submitted a heartbeat ago: its wake-up went astray")
            #expect(try await !beat("h2", [], 0).workWaiting, "no free slot")
            #expect(try await !store.heartbeat(Heartbeat(
                host: "h2", leaseUntil: clock.now() + 30, now: clock.now(), freeSlots: 1, idlePipelines: ["helios"])).workWaiting,
                "not a pipeline the free slot runs")

            #expect(try await !beat("h2", [], 1).expiredLeases)
            clock.advance(by: 31)
            #expect(try await beat("h2", [], 1).expiredLeases, "h1 stopped renewing its job's lease")
            #expect(try await beat("h1", [held], 0).expiredLeases == false, "renewed: nothing expired now")
        }
    }
}

/// Wake-ups on a shared queue go to one host at a time (issue 33).
@Suite("PostgreSQL wake-ups", .enabled(if: PostgresTestServer.isAvailable))
struct WakeUpTests {
    @Test
    func eachJobWakesOneHostWithAFreeSlotForItsPipeline() async throws {
        try await withStore(.postgres) { t in
            let store = t.store, clock = t.clock
            func register(_ name: String, pipelines: [String]) async throws -> AsyncStream<Void>.AsyncIterator {
                try await store.registerHost(HostRecord(
                    name: name, slots: [.virtual(0)], pipelines: pipelines, startedAt: clock.now(), heartbeatAt: clock.now()))
                var wakes = store.queueNotifications(for: name).makeAsyncIterator()
                #expect(await wakes.next() != nil, "\(name) listens")
                return wakes
            }
            var helios = try await register("a-helios", pipelines: ["helios"])
            var first = try await register("b-synthetic", pipelines: ["synthetic"])
            var second = try await register("c-synthetic", pipelines: ["synthetic"])
            // Each host has one free slot: the first job wakes b, the second c (b's slot is
            // spoken for), the third nobody.
            _ = try await store.enqueue(Fixtures.request(at: clock.now()))
            #expect(await first.next() != nil)
            _ = try await store.enqueue(Fixtures.request(at: clock.now()))
            #expect(await second.next() != nil)
            _ = try await store.enqueue(Fixtures.request(at: clock.now()))
            let free = try await (store as! PostgresJobStore).fetchCount("SELECT name FROM hosts WHERE free_slots > 0")
            #expect(free == 1, "only the helios host is free; the third job waits for a heartbeat that finds it")
            // A heartbeat of b with its slot free again finds the waiting job, and wakes b for the next one.
            #expect(try await store.heartbeat(Heartbeat(
                host: "b-synthetic", leaseUntil: clock.now() + 30, now: clock.now(), freeSlots: 1, idlePipelines: ["synthetic"])).workWaiting)
            _ = try await store.enqueue(Fixtures.request(at: clock.now()))
            #expect(await first.next() != nil)
            // The helios host heard of none of them; a helios job wakes it.
            _ = try await store.enqueue(Fixtures.request(Fixtures.spec(pipeline: "helios"), at: clock.now()))
            #expect(await helios.next() != nil)
        }
    }
}
