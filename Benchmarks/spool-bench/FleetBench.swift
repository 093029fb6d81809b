import ArgumentParser
import Foundation
import SpoolCore
import SpoolPostgres
import SpoolTesting

/// A fleet of simulated hosts on one PostgreSQL (issue 33): what the database does per job and
/// per host as the fleet grows. Each host is the real dispatcher, lease keeper and store client
/// (`SimulatedFleet`); attempts hold their slot for a set time instead of running a worker.
///
/// The submission rate is the same for every fleet size, and each job's length is set so that
/// the fleet's slots are `--utilization` busy: the work per job is then the same at every size,
/// and whatever grows with the fleet is a cost of hosts × time. The anchor of each figure is
/// the smallest fleet's, measured in the same run.
///
/// Best with a server of its own: `scripts/bench-fleet.sh` starts one with `pg_stat_statements`
/// (statement counts) and room for 1,000 connections.
struct FleetBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fleet", abstract: "A fleet of simulated hosts on one PostgreSQL.")

    @Option(help: "Fleet sizes, in hosts.") var hosts = "10,50,100,200"
    @Option(help: "Slots per host.") var slots = 8
    @Option(help: "Jobs submitted per second, at every fleet size.") var rate = 40.0
    @Option(help: "Share of the fleet's slots the jobs keep busy (sets each job's length).") var utilization = 0.7
    @Option(help: "Seconds of submissions per fleet size.") var seconds = 20.0
    @Option(help: "Heartbeat interval, seconds (scaled time: Spool's default is 5).") var heartbeat = 1.0
    @Option(help: "Lease, seconds.") var lease = 5.0
    @Option(help: "Heartbeats of an idle fleet measured before the jobs.") var idleHeartbeats = 10
    @Flag(help: "Print the statements each phase sent most (needs pg_stat_statements).") var showStatements = false
    @Flag(inversion: .prefixedNo, help: "Run each host's job change relay, as spool serve does.") var relay = true

    struct Row {
        var hosts: Int
        var jobSeconds: Double
        var idleCommitsPerHostBeat: Double
        var idleStatementsPerHostBeat: Double?
        /// PostgreSQL's CPU per host and heartbeat of the idle fleet.
        var idleServerCPUPerHostBeat: Double
        var commitsPerSecond: Double
        var commitsPerJob: Double
        /// Heartbeats apart: what each job itself costs.
        var jobCommitsPerJob: Double
        var jobStatementsPerJob: Double?
        var claimsPerJob: Double
        var emptyClaimsPerJob: Double
        var claimP50: Double
        var claimP99: Double
        var serverCores: Double
        var serverCPUPerJob: Double
        var jobServerCPUPerJob: Double
        var clientCores: Double
        /// Slots running a job when the last job was submitted: the steady state.
        var slotsBusy: Double
        var jobs: Int
    }

    func run() async throws {
        guard PostgresTestServer.url != nil else {
            print("skipped: set SPOOL_TEST_POSTGRES, or run scripts/bench-fleet.sh")
            return
        }
        let sizes = hosts.split(separator: ",").compactMap { Int($0) }
        print("== Fleet: \(sizes.map(String.init).joined(separator: ", ")) simulated hosts of \(slots) slots on one PostgreSQL; "
              + "\(Int(rate)) jobs/s for \(Int(seconds)) s; \(Int(utilization * 100)) % of slots busy; heartbeat \(heartbeat) s, lease \(lease) s; "
              + (relay ? "each host follows job changes ==" : "no host follows job changes (--no-relay) =="))
        var rows: [Row] = []
        for size in sizes {
            let row = try await measure(hosts: size)
            rows.append(row)
            print(String(format: "  %4d hosts: job %.2f s; idle %.2f commits/host/heartbeat; %.1f commits/job (%.1f without heartbeats); %.2f empty claims/job; claim p50 %.1f ms, p99 %.1f ms; PostgreSQL %.2f cores; simulator %.2f cores; slots %.0f %% busy",
                         size, row.jobSeconds, row.idleCommitsPerHostBeat, row.commitsPerJob, row.jobCommitsPerJob, row.emptyClaimsPerJob,
                         row.claimP50 * 1000, row.claimP99 * 1000, row.serverCores, row.clientCores, row.slotsBusy * 100))
        }
        guard let anchor = rows.first else { return }
        func optional(_ value: Double?, _ format: String = "%.2f") -> String { value.map { String(format: format, $0) } ?? "n/a" }
        print("")
        print("An idle fleet, per host and heartbeat:")
        print("| hosts | commits | statements | PostgreSQL CPU µs |")
        print("| ---: | ---: | ---: | ---: |")
        for row in rows {
            print("| \(row.hosts) | \(optional(row.idleCommitsPerHostBeat)) | \(optional(row.idleStatementsPerHostBeat)) | \(optional(row.idleServerCPUPerHostBeat * 1e6, "%.0f")) |")
        }
        print("")
        print("Jobs at \(Int(rate))/s (per job: all of it, then the heartbeats of the same time taken out):")
        print("| hosts | job s | slots busy | commits/s | commits / job | without heartbeats | statements / job, without heartbeats | claims / job | empty claims / job | claim p50 ms | claim p99 ms | PostgreSQL cores | PostgreSQL CPU ms / job | without heartbeats | simulator cores |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in rows {
            print("| \(row.hosts) | \(optional(row.jobSeconds, "%.1f")) | \(optional(row.slotsBusy * 100, "%.0f")) % | \(optional(row.commitsPerSecond, "%.0f")) | "
                  + "\(optional(row.commitsPerJob, "%.1f")) | \(optional(row.jobCommitsPerJob, "%.1f")) | \(optional(row.jobStatementsPerJob, "%.1f")) | "
                  + "\(optional(row.claimsPerJob)) | \(optional(row.emptyClaimsPerJob)) | \(optional(row.claimP50 * 1000, "%.1f")) | "
                  + "\(optional(row.claimP99 * 1000, "%.1f")) | \(optional(row.serverCores)) | \(optional(row.serverCPUPerJob * 1000)) | "
                  + "\(optional(row.jobServerCPUPerJob * 1000)) | \(optional(row.clientCores)) |")
        }
        print("")
        for row in rows.dropFirst() {
            let versus = "\(anchor.hosts) hosts"
            report("\(row.hosts) hosts: empty claims per job", row.emptyClaimsPerJob, unit: "", anchor: anchor.emptyClaimsPerJob, anchorName: versus,
                   target: "ratio <= 1.5")
            report("\(row.hosts) hosts: commits per job, heartbeats apart", row.jobCommitsPerJob, unit: "", anchor: anchor.jobCommitsPerJob,
                   anchorName: versus)
            report("\(row.hosts) hosts: PostgreSQL CPU per job, heartbeats apart", row.jobServerCPUPerJob * 1000, unit: "ms",
                   anchor: anchor.jobServerCPUPerJob * 1000, anchorName: versus)
            report("\(row.hosts) hosts: claim p99", row.claimP99 * 1000, unit: "ms", anchor: anchor.claimP99 * 1000, anchorName: versus,
                   target: "<= 50 ms")
            report("\(row.hosts) hosts: idle commits per host per heartbeat", row.idleCommitsPerHostBeat, unit: "",
                   anchor: anchor.idleCommitsPerHostBeat, anchorName: versus, target: "<= 1.2")
        }
    }

    /// What the server has counted so far.
    struct Counters {
        /// Transaction ids handed out: every transaction that wrote, committed or not (a
        /// read-only one takes none). Read from the server's next id, at once, where
        /// `pg_stat_database`'s counts reach it only when a backend reports them (seconds later
        /// for a busy one, up to ten for an idle one).
        var commits: Double
        var statements: Double?
    }

    func counters(_ admin: PostgresJobStore, database: String, statements: Bool) async throws -> Counters {
        let commits = try await admin.fetchDoubles("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::float8").first ?? 0
        let calls = statements ? try await admin.fetchDoubles("""
            SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '\(database)')
            """).first : nil
        return Counters(commits: commits, statements: calls)
    }

    /// The statements sent since the last call, most called first (resets the counts).
    func printStatements(_ admin: PostgresJobStore, phase: String) async throws {
        let calls = try await admin.fetchDoubles("""
            SELECT calls::float8 FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY calls DESC LIMIT 12
            """)
        let texts = try await admin.fetchTexts("""
            SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 100) FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC LIMIT 12
            """)
        print("  statements, \(phase):")
        for (count, text) in zip(calls, texts) { print("    \(Int(count))  \(text)") }
        try await admin.execute("SELECT pg_stat_statements_reset()")
    }

    func measure(hosts size: Int) async throws -> Row {
        let address = try await PostgresTestServer.createDatabase()
        defer { Task { await PostgresTestServer.dropDatabase(address) } }
        let admin = try await PostgresJobStore.connect(address)
        let adminPool = Task { await admin.run() }
        defer { adminPool.cancel() }
        // Statement counts where the server preloads pg_stat_statements.
        var statements = (try? await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")) != nil
        if statements { statements = (try? await admin.fetchCount("SELECT 1 FROM pg_stat_statements LIMIT 1")) != nil }
        let jobSeconds = utilization * Double(size * slots) / rate
        let fleet = try await SimulatedFleet(address: address, hosts: size, settings: .init(
            slotsPerHost: slots, heartbeatSeconds: heartbeat, leaseSeconds: lease, followsChanges: relay,
            work: { _ in try? await Task.sleep(for: .seconds(jobSeconds)) }))

        // An idle fleet: heartbeats alone.
        try await Task.sleep(for: .seconds(2 * heartbeat + 1.5))
        if showStatements && statements { try await admin.execute("SELECT pg_stat_statements_reset()") }
        let idleStart = try await counters(admin, database: address.database, statements: statements)
        let idleCPU = ProcessCPU.sample()
        let idleClock = ContinuousClock.now
        try await Task.sleep(for: .seconds(Double(idleHeartbeats) * heartbeat))
        let idleEnd = try await counters(admin, database: address.database, statements: statements)
        if showStatements && statements { try await printStatements(admin, phase: "idle, \(size) hosts") }
        let idleSeconds = elapsed(since: idleClock)
        let idleServer = ProcessCPU.sample().since(idleCPU).server
        let idleBeats = Double(size) * idleSeconds / heartbeat

        // The jobs, submitted at a steady rate from a host that runs none.
        let submitter = try await PostgresJobStore.connect(address)
        let submitterPool = Task { await submitter.run() }
        defer { submitterPool.cancel() }
        let claimsBefore = fleet.claims
        let before = try await counters(admin, database: address.database, statements: statements)
        let cpuBefore = ProcessCPU.sample()
        let start = ContinuousClock.now
        // Long enough for the fleet to reach its steady state: jobs end as fast as they come.
        let window = max(seconds, 1.5 * jobSeconds)
        let total = Int(rate * window)
        for n in 0..<total {
            let due = start + .seconds(Double(n) / rate)
            if due > ContinuousClock.now { try await Task.sleep(until: due) }
            _ = try await submitter.enqueue(EnqueueRequest(
                spec: JobSpec(prompt: "fleet \(n)", frames: 24, width: 64, height: 48, seed: UInt64(n), pipeline: SimulatedFleet.pipeline.name),
                maxAttempts: 3, submittedAt: Date()))
        }
        let busy = Double(try await admin.countsByState()[.running] ?? 0) / Double(size * slots)
        while try await (admin.countsByState()[.succeeded] ?? 0) < total {
            try await Task.sleep(for: .milliseconds(100))
        }
        let wall = elapsed(since: start)
        let cpu = ProcessCPU.sample().since(cpuBefore)
        let after = try await counters(admin, database: address.database, statements: statements)
        if showStatements && statements { try await printStatements(admin, phase: "jobs, \(size) hosts") }
        let claimsAfter = fleet.claims
        let latencies = try await admin.fetchDoubles("""
            SELECT a.started_at - j.submitted_at FROM jobs j JOIN attempts a ON a.job_id = j.id AND a.number = 1
            """)
        await fleet.stop()

        let jobs = Double(total)
        // What the fleet's heartbeats cost over the same time, as the idle fleet measured them.
        let beats = Double(size) * wall / heartbeat
        let idleCommits = (idleEnd.commits - idleStart.commits) / idleBeats
        let idleStatements = idleEnd.statements.flatMap { end in idleStart.statements.map { (end - $0) / idleBeats } }
        return Row(
            hosts: size, jobSeconds: jobSeconds,
            idleCommitsPerHostBeat: (idleEnd.commits - idleStart.commits) / idleBeats,
            idleStatementsPerHostBeat: idleEnd.statements.flatMap { end in idleStart.statements.map { (end - $0) / idleBeats } },
            idleServerCPUPerHostBeat: idleServer / idleBeats,
            commitsPerSecond: (after.commits - before.commits) / wall, commitsPerJob: (after.commits - before.commits) / jobs,
            jobCommitsPerJob: (after.commits - before.commits - idleCommits * beats) / jobs,
            jobStatementsPerJob: after.statements.flatMap { end in
                before.statements.flatMap { start in idleStatements.map { (end - start - $0 * beats) / jobs } }
            },
            claimsPerJob: Double(claimsAfter.total - claimsBefore.total) / jobs,
            emptyClaimsPerJob: Double(claimsAfter.empty - claimsBefore.empty) / jobs,
            claimP50: percentile(latencies, 0.5), claimP99: percentile(latencies, 0.99),
            serverCores: cpu.server / wall, serverCPUPerJob: cpu.server / jobs,
            jobServerCPUPerJob: (cpu.server - idleServer / idleBeats * beats) / jobs, clientCores: cpu.client / wall,
            slotsBusy: busy, jobs: total)
    }
}
