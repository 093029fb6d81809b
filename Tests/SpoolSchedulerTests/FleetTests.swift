import Foundation
import SpoolCore
import SpoolPostgres
import SpoolTesting
import Synchronization
import Testing

/// A fleet of 200 hosts on one PostgreSQL queue, 20 of them killed at once (issue 33).
@Suite("Fleet on one PostgreSQL", .serialized, .takesTurns, .enabled(if: PostgresTestServer.isAvailable))
struct FleetTests {
    @Test
    func killingTwentyOfTwoHundredHostsLosesNoJobRunsNoneTwiceAndRunsTheirsElsewhereWithinALeaseAndAHeartbeat() async throws {
        let address = try await PostgresTestServer.createDatabase()
        // Holds every first attempt; later ones (the jobs taken over) end at once.
        let gate = AsyncGate()
        // Scaled time (Spool's defaults are 30 s and 5 s). The bound below is taken from the
        // store's own records, so a slow test machine delays the check, not the figure; what the
        // machine's load can still add is the taking back and the claim after the lease ran out,
        // measured at 0.06–1.04 s here while the killed hosts' tasks wound down and other suites ran.
        let lease = 6.0, heartbeat = 3.0
        let fleet = try await SimulatedFleet(address: address, hosts: 200, settings: .init(
            // Without the job change relay: 200 hosts' relays hearing every change in one
            // process on two cores is the simulator's load, not what a host's leases depend on.
            slotsPerHost: 8, heartbeatSeconds: heartbeat, leaseSeconds: lease, followsChanges: false,
            work: { job in if job.attempts == 1 { await gate.wait() } }))
        let store = try await PostgresJobStore.connect(address)
        let pool = Task { await store.run() }
        defer {
            pool.cancel()
            Task { await PostgresTestServer.dropDatabase(address) }
        }

        let ids = try await store.enqueueAll((0..<400).map { n in
            EnqueueRequest(
                spec: JobSpec(prompt: "fleet \(n)", frames: 24, width: 64, height: 48, seed: UInt64(n), pipeline: SimulatedFleet.pipeline.name),
                maxAttempts: 3, submittedAt: Date())
        }).map(\.job.id)
        try await until("every job runs", stalledFor: 60, progress: { try await store.countsByState()[.running] ?? 0 }) {
            try await store.countsByState()[.running] == ids.count
        }
        // Twenty hosts that run jobs, killed at once.
        let byHost = Dictionary(grouping: try await store.jobs(Set(ids)), by: { $0.host ?? "" })
        let killed = Set(byHost.keys.sorted().prefix(20))
        let lost = Set(killed.flatMap { byHost[$0]!.map(\.id) })
        #expect(killed.count == 20 && lost.count >= 20)
        await fleet.kill(killed)

        // Their jobs run elsewhere: taken back when their leases ran out, claimed by a live host.
        try await until("the killed hosts' \(lost.count) jobs run elsewhere", stalledFor: 60, progress: {
            try await store.jobs(lost).filter { $0.attempts >= 2 }.count
        }) {
            try await store.jobs(lost).allSatisfy { $0.attempts >= 2 && !killed.contains($0.host ?? "") }
        }
        // Measured on the store's own records: from the dead attempt's last heartbeat to its
        // job's next attempt, a lease (the lease ran out) and at most a heartbeat (the first
        // live host's heartbeat after that saw it, took the job back and woke a host to claim it).
        let gaps = try await store.fetchDoubles("""
            SELECT next.started_at - dead.heartbeat_at FROM attempts dead
            JOIN attempts next ON next.job_id = dead.job_id AND next.number = dead.number + 1 WHERE dead.outcome = 'lost'
            """)
        #expect(gaps.count == lost.count)
        let slowest = gaps.max() ?? .infinity
        #expect(slowest <= lease + heartbeat, "the slowest took \(slowest) s")
        print("fleet kill: \(lost.count) jobs of 20 killed hosts ran elsewhere \(String(format: "%.3f", gaps.min() ?? 0))–\(String(format: "%.3f", slowest)) s after their last heartbeat (lease \(lease) s + heartbeat \(heartbeat) s)")

        gate.open()
        try await until("every job succeeds", stalledFor: 60, progress: { try await store.countsByState()[.succeeded] ?? 0 }) {
            try await store.countsByState()[.succeeded] == ids.count
        }
        for id in ids {
            let outcomes = try await store.attempts(of: id).map(\.outcome)
            // None ran twice: exactly one attempt generated each video, and only a killed host's
            // attempt was ever lost.
            #expect(outcomes.filter { $0 == .generated }.count == 1, "\(id): \(outcomes)")
            #expect(outcomes == (lost.contains(id) ? [.lost, .generated] : [.generated]), "\(id): \(outcomes)")
        }
        let (claims, empty) = fleet.claims
        print("fleet kill: \(claims) claims, \(empty) found nothing")
        await fleet.stop()
    }
}
