import ArgumentParser
import Foundation
import SpoolCore
import SpoolPostgres
import SpoolTesting
import Synchronization

/// The shared PostgreSQL store: claim throughput and how fast an idle host hears of a job.
/// Needs a server: `SPOOL_TEST_POSTGRES=$(scripts/postgres-test-server.sh start)`.
struct PostgresBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "postgres", abstract: "PostgreSQL store: claims/s and submit-to-claim latency.")

    @Option(help: "Jobs to claim.") var jobs = 8_000
    @Option(help: "Concurrent claimers.") var claimers = 8
    @Option(help: "Submissions timed from submit to claim.") var submissions = 300

    func run() async throws {
        print("== PostgreSQL store (one server on loopback, fsync on) ==")
        guard PostgresTestServer.url != nil else {
            print("skipped: set SPOOL_TEST_POSTGRES, e.g. SPOOL_TEST_POSTGRES=$(scripts/postgres-test-server.sh start)")
            return
        }
        let address = try await PostgresTestServer.createDatabase()
        let store = try await PostgresJobStore.connect(address)
        let listener = try await PostgresJobStore.connect(address)
        // Neither runs in a service group here: their pools run in tasks of their own.
        let pools = [Task.immediate { await store.run() }, Task.immediate { await listener.run() }]

        // Anchor: the server's durable commit rate for the smallest write, with as many clients.
        let commits = try await commitRate(store: store, clients: claimers, seconds: 3)
        report("durable commits, \(claimers) clients, one-row INSERT each (the server's ceiling)", commits, unit: "/s")
        let trips = try await commitRate(store: store, clients: 1, seconds: 2, sql: "SELECT 1")
        report("round trips, 1 client, SELECT 1 (the client's own cost)", trips, unit: "/s")
        let parallelTrips = try await commitRate(store: store, clients: claimers, seconds: 2, sql: "SELECT 1")
        report("round trips, \(claimers) clients, SELECT 1, rows not read", parallelTrips, unit: "/s")
        let rowTrips = try await commitRate(store: store, clients: claimers, seconds: 2, sql: "SELECT 1", readRows: true)
        report("round trips, \(claimers) clients, SELECT 1, rows read", rowTrips, unit: "/s")

        let spec = JobSpec(prompt: "a bench", frames: 48, width: 64, height: 48, seed: 1, pipeline: "synthetic")
        for _ in 0..<(jobs / 500) {
            _ = try await store.enqueueAll((0..<500).map { _ in EnqueueRequest(spec: spec, maxAttempts: 3, submittedAt: Date()) })
        }
        let start = ContinuousClock.now
        let cpuBefore = ProcessCPU.sample()
        let claimed = try await withThrowingTaskGroup(of: Int.self) { group in
            for claimer in 0..<claimers {
                group.addTask {
                    var count = 0
                    while try await store.claimNext(ClaimRequest(
                        host: "bench", gpu: "gpu\(claimer)", pipelines: ["synthetic"], now: Date(),
                        leaseUntil: Date().addingTimeInterval(30))) != nil {
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = elapsed(since: start)
        let plainCPU = ProcessCPU.sample().since(cpuBefore)
        report("claims, \(claimers) concurrent claimers (SKIP LOCKED, one statement each)", Double(claimed) / seconds,
               unit: "/s", anchor: commits, anchorName: "durable commits", target: ">= 2000/s")
        precondition(claimed == jobs / 500 * 500, "every job claimed exactly once")
        let running = try await store.countsByState()[.running]
        precondition(running == claimed, "the store counts every claim")

        // The same under fair share (issue 31): the jobs spread over four tenants, each claim
        // taking each tenant's best job (one probe each) in the tenants' order.
        let tenants = ["t0", "t1", "t2", "t3"]
        for batch in 0..<(jobs / 500) {
            _ = try await store.enqueueAll((0..<500).map { n in
                EnqueueRequest(spec: spec, maxAttempts: 3, submittedAt: Date(), tenant: tenants[(batch * 500 + n) % tenants.count])
            })
        }
        let fairStart = ContinuousClock.now
        let fairCPUBefore = ProcessCPU.sample()
        let fairClaimed = try await withThrowingTaskGroup(of: Int.self) { group in
            for claimer in 0..<claimers {
                group.addTask {
                    var count = 0
                    while try await store.claimNext(ClaimRequest(
                        host: "bench", gpu: "gpu\(claimer)", pipelines: ["synthetic"], now: Date(),
                        leaseUntil: Date().addingTimeInterval(30), tenantOrder: tenants.shuffled())) != nil {
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let fairSeconds = elapsed(since: fairStart)
        let fairCPU = ProcessCPU.sample().since(fairCPUBefore)
        report("claims under fair share, 4 tenants, \(claimers) concurrent claimers", Double(fairClaimed) / fairSeconds,
               unit: "/s", anchor: Double(claimed) / seconds, anchorName: "claims in queue order, same run", target: ">= 2000/s")
        // Where a claim's time goes on this machine, whose cores the server and this client share.
        report("PostgreSQL's CPU per claim under fair share", fairCPU.server / Double(fairClaimed) * 1e6, unit: "µs",
               anchor: plainCPU.server / Double(claimed) * 1e6, anchorName: "per claim in queue order")
        report("this client's CPU per claim under fair share", fairCPU.client / Double(fairClaimed) * 1e6, unit: "µs",
               anchor: plainCPU.client / Double(claimed) * 1e6, anchorName: "per claim in queue order")
        print("  CPU busy: \(String(format: "%.2f", (plainCPU.server + plainCPU.client) / seconds)) cores in queue order, "
              + "\(String(format: "%.2f", (fairCPU.server + fairCPU.client) / fairSeconds)) under fair share, of \(ProcessInfo.processInfo.activeProcessorCount)")
        precondition(fairClaimed == jobs / 500 * 500, "every job claimed exactly once under fair share")

        // Submit to claim on an idle host: the host waits on LISTEN, and claims when told.
        let submittedAt = Mutex<[JobID: ContinuousClock.Instant]>([:])
        let latencies = Mutex<[Double]>([])
        // A registered host with a free slot: where the queue trigger sends each job's wake-up.
        try await listener.registerHost(HostRecord(
            name: "idle", slots: [.virtual(0)], pipelines: ["synthetic"], startedAt: Date(), heartbeatAt: Date()))
        let host = Task {
            for await _ in listener.queueNotifications(for: "idle") {
                while let job = try await listener.claimNext(ClaimRequest(
                    host: "idle", gpu: "gpu0", pipelines: ["synthetic"], now: Date(), leaseUntil: Date().addingTimeInterval(30))) {
                    let now = ContinuousClock.now
                    if let sent = submittedAt.withLock({ $0[job.id] }) {
                        latencies.withLock { $0.append((now - sent).seconds) }
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        var enqueueTimes: [Double] = []
        for _ in 0..<submissions {
            let id = JobID.random()
            let sent = ContinuousClock.now
            submittedAt.withLock { $0[id] = sent }
            _ = try await store.enqueue(EnqueueRequest(id: id, spec: spec, maxAttempts: 3, submittedAt: Date()))
            enqueueTimes.append((ContinuousClock.now - sent).seconds)
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...25)))
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while latencies.withLock({ $0.count }) < submissions && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        host.cancel()
        let measured = latencies.withLock { $0 }
        precondition(measured.count == submissions, "every submission was claimed (\(measured.count) of \(submissions))")
        let enqueueP50 = percentile(enqueueTimes, 0.5) * 1000
        report("submit to claim on an idle host, p50", percentile(measured, 0.5) * 1000, unit: "ms",
               anchor: enqueueP50, anchorName: "the submit alone, p50")
        report("submit to claim on an idle host, p99", percentile(measured, 0.99) * 1000, unit: "ms",
               anchor: percentile(enqueueTimes, 0.99) * 1000, anchorName: "the submit alone, p99", target: "<= 50 ms")

        for pool in pools {
            pool.cancel()
            await pool.value
        }
        await PostgresTestServer.dropDatabase(address)
    }

    func commitRate(store: PostgresJobStore, clients: Int, seconds: Double, sql: String = "INSERT INTO bench_commits VALUES (1)", readRows: Bool = false) async throws -> Double {
        try await store.execute("CREATE TABLE IF NOT EXISTS bench_commits (n bigint)")
        let start = ContinuousClock.now
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var count = 0
                    while elapsed(since: start) < seconds {
                        if readRows { _ = try await store.fetchCount(sql) } else { try await store.execute(sql) }
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / elapsed(since: start)
    }
}

/// CPU time of the PostgreSQL server's processes on this machine (every process named
/// `postgres` in /proc) and of this process: where a claim's time goes.
struct ProcessCPU {
    var server: Double
    var client: Double

    static func sample() -> ProcessCPU {
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        var server = 0.0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
                  stat[stat.index(after: open)..<close] == "postgres"
            else { continue }
            // After the command: state is field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            server += (user + system) / tick
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let client = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return ProcessCPU(server: server, client: client)
    }

    func since(_ earlier: ProcessCPU) -> ProcessCPU {
        ProcessCPU(server: server - earlier.server, client: client - earlier.client)
    }
}
