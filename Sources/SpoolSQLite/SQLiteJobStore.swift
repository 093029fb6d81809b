import Foundation
import GRDB
import GRDBSQLite
import SpoolCore
import SpoolStoreKit

/// The embedded job store: one SQLite file in WAL mode, durable commits, safe to share
/// between processes on one machine.
///
/// Writes go through a group-commit writer (see `GroupCommitWriter`); reads run
/// concurrently on WAL snapshots, one job by id on plain connections (see `JobPointReader`).
public final class SQLiteJobStore: JobStore, SynchronousJobReading {
    /// Reads are a local file: polls are answered from them without suspending.
    public var synchronousReads: (any SynchronousJobReading)? { self }

    /// How hard each commit is pushed to disk.
    public enum Durability: Sendable {
        /// fsync the WAL on every commit: a returned call survives power loss.
        case full
        /// fsync at checkpoints only: survives a process crash, not power loss.
        case normal
    }

    public let path: String
    private let pool: DatabasePool
    private let writer: GroupCommitWriter
    private let specs: JobSpecCache
    private let pointReader: JobPointReader

    /// Space kept beside the store for the writes it must make on a full disk: 16 MiB.
    public static let defaultReserveBytes = 16 << 20

    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    /// - Parameter reserveBytes: disk space held in `<path>.reserve` and given up when the
    ///   disk fills, so the store can still record how jobs ended; 0 for none.
    public init(path: String, durability: Durability = .full, reserveBytes: Int = SQLiteJobStore.defaultReserveBytes) throws {
        self.path = path
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteSchema.migrator.migrate(pool)
        writer = GroupCommitWriter(writer: pool, reserve: reserveBytes > 0 ? StoreReserve(path: path + ".reserve", bytes: reserveBytes) : nil)
        specs = JobSpecCache()
        pointReader = JobPointReader(path: path, specs: specs)
    }

    /// Runs one statement in its own durable commit (maintenance, and tests that must write
    /// what no version of Spool would).
    public func execute(_ sql: String) async throws {
        try await writer.write { db in try db.execute(sql: sql) }
    }

    // MARK: Enqueue

    public func enqueue(_ request: EnqueueRequest) async throws -> EnqueueResult {
        try await enqueueAll([request])[0]
    }

    public func enqueueAll(_ requests: [EnqueueRequest]) async throws -> [EnqueueResult] {
        let specs = try requests.map { try JobSpecCache.json(for: $0.spec) }
        return try await writer.write { db in
            try zip(requests, specs).map { request, specJSON in try self.insert(request, specJSON: specJSON, db) }
        }
    }

    private func insert(_ request: EnqueueRequest, specJSON: String, _ db: Database) throws -> EnqueueResult {
        let spec = request.spec
        if let key = request.storedIdempotencyKey,
           let job = try db.fetchJob(sql: "SELECT \(Job.sqliteColumns) FROM jobs WHERE idempotency_key = ?", arguments: [key], specs: specs) {
            return EnqueueResult(job: job, created: false)
        }
        try db.executeCached(
            sql: """
                INSERT INTO jobs (id, idempotency_key, spec, pipeline, priority, state, max_attempts,
                                  submitted_at, frames_total, chunks_total, waiting_reason, webhooks, tenant, routing)
                VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                request.id.rawValue, request.storedIdempotencyKey, specJSON, spec.pipeline ?? "", spec.priority,
                request.maxAttempts, request.submittedAt.epoch, spec.frames, request.chunksTotal,
                request.waitingReason, WebhookSubscription.stored(request.webhooks), request.tenant, request.routing?.stored,
            ])
        let job = Job(
            id: request.id, spec: spec, maxAttempts: request.maxAttempts,
            timings: JobTimings(submittedAt: request.submittedAt),
            progress: JobProgress(framesTotal: spec.frames, chunksTotal: request.chunksTotal),
            waitingReason: request.waitingReason, tenant: request.tenant, routing: request.routing)
        return EnqueueResult(job: job, created: true)
    }

    // MARK: Reads

    public func job(_ id: JobID) async throws -> Job? {
        try jobWithPositionNow(id)?.job
    }

    public func jobs(_ ids: Set<JobID>) async throws -> [Job] {
        guard !ids.isEmpty else { return [] }
        return try await pool.read { db in
            var jobs: [Job] = []
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            try db.forEachRow(
                sql: "SELECT \(Job.sqliteColumns) FROM jobs WHERE id IN (\(marks))",
                arguments: StatementArguments(ids.map(\.rawValue).sorted())
            ) { s in jobs.append(try Job(statement: s, specs: self.specs)) }
            return jobs
        }
    }

    private func fetchJob(_ id: JobID, _ db: Database) throws -> Job? {
        try db.fetchJob(sql: "SELECT \(Job.sqliteColumns) FROM jobs WHERE id = ?", arguments: [id.rawValue], specs: specs)
    }

    public func list(_ query: JobQuery) async throws -> JobPage {
        try await pool.read { db in
            var sql = SQLWriter.sqlite()
            let filter = sql.conditions(query.conditions)
            let limit = query.pageSize
            // One row past the page says whether there is a next page; it is not decoded.
            var jobs: [Job] = []
            var lastSeq = 0
            var more = false
            try db.forEachRow(
                sql: "SELECT \(Job.sqliteColumns), seq FROM jobs WHERE \(filter) ORDER BY \(query.order) LIMIT \(limit + 1)",
                arguments: StatementArguments(sql.values)
            ) { s in
                guard jobs.count < limit else {
                    more = true
                    return
                }
                jobs.append(try Job(statement: s, specs: self.specs))
                lastSeq = Int(sqlite3_column_int64(s, Job.sqliteColumnCount))
            }
            return JobPage(jobs: jobs, nextCursor: more ? JobQuery.cursor(afterSeq: lastSeq) : nil)
        }
    }

    public func jobWithPosition(_ id: JobID, scope: QueueScope) async throws -> (job: Job, queuePosition: Int?)? {
        try jobWithPositionNow(id, scope: scope)
    }

    public func preemptionCandidate(_ query: PreemptionQuery) async throws -> Job? {
        guard !query.pipelines.isEmpty else { return nil }
        return try await pool.read { db in
            var sql = SQLWriter.sqlite()
            let filter = sql.conditions(query.conditions)
            return try db.fetchJob(
                sql: "SELECT \(Job.sqliteColumns) FROM jobs INDEXED BY jobs_queue WHERE \(filter) ORDER BY \(PreemptionQuery.order) LIMIT 1",
                arguments: StatementArguments(sql.values), specs: self.specs)
        }
    }

    public func delete(_ id: JobID) async throws -> Job? {
        try await writer.write { db in
            guard let job = try self.fetchJob(id, db) else { return nil }
            let running = try Int.fetchOne(
                cached: db, sql: "SELECT COUNT(*) FROM attempts WHERE job_id = ? AND outcome = 'running'", arguments: [id.rawValue]) ?? 0
            try JobDeletion.check(job, runningAttempts: running)
            for statement in JobDeletion.statements {
                try db.executeCached(sql: statement, arguments: [id.rawValue])
            }
            return job
        }
    }

    public func jobWithPositionNow(_ id: JobID, scope: QueueScope) throws -> (job: Job, queuePosition: Int?)? {
        // The poll dashboards hammer; see `JobPointReader` for why it bypasses GRDB.
        try pointReader.job(id, scope: scope)
    }

    public func queuePosition(of id: JobID, scope: QueueScope) async throws -> Int? {
        try jobWithPositionNow(id, scope: scope)?.queuePosition
    }

    public func attempts(of id: JobID) async throws -> [Attempt] {
        try await pool.read { db in
            try Row.fetchAll(cached: db, sql: "SELECT * FROM attempts WHERE job_id = ? ORDER BY number", arguments: [id.rawValue])
                .map(Attempt.init(row:))
        }
    }

    public func countsByState() async throws -> [JobState: Int] {
        try await pool.read { db in
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(cached: db, sql: "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    public func count(_ query: JobQuery) async throws -> Int {
        try await pool.read { db in
            var sql = SQLWriter.sqlite()
            let filter = sql.conditions(query.conditions)
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE \(filter)", arguments: StatementArguments(sql.values)) ?? 0
        }
    }

    public func tenantUsage(since: Date, now: Date) async throws -> [TenantUsage] {
        try await pool.read { db in
            func seconds(_ sql: String, _ bound: Date) throws -> [(tenant: String?, seconds: Double)] {
                try Row.fetchAll(db, sql: sql, arguments: [bound.epoch]).map { (tenant: $0["tenant"], seconds: ($0["seconds"] as Double?) ?? 0) }
            }
            let active = try Row.fetchAll(db, sql: TenantUsageQueries.active).map {
                (tenant: $0["tenant"] as String?, state: $0["state"] as String, count: $0["n"] as Int)
            }
            return TenantUsageQueries.merge(
                ended: try seconds(TenantUsageQueries.gpuSeconds(placeholder: "?"), since),
                running: try seconds(TenantUsageQueries.runningSeconds(placeholder: "?"), now), active: active)
        }
    }

    public func endedAttempts(since: Date, limit: Int) async throws -> [AttemptRecord] {
        try await EndedAttemptsQuery.read(since: since, limit: limit) { since, until, size in
            try await pool.read { db in
                let sql = EndedAttemptsQuery.query(since: "?", until: "?", limit: "?")
                return try Row.fetchAll(db, sql: sql, arguments: [since.epoch, until.epoch, size]).compactMap { row in
                    guard let outcome = Attempt.Outcome(rawValue: row["outcome"]) else { return nil }
                    let coldStart: Int? = row["cold_start"]
                    return AttemptRecord(
                        jobID: JobID(row["job_id"] as String), pipeline: row["pipeline"], outcome: outcome, number: row["number"],
                        submittedAt: Date(epoch: row["submitted_at"])!, startedAt: Date(epoch: row["started_at"])!,
                        endedAt: Date(epoch: row["ended_at"])!, gpuSeconds: row["gpu_seconds"], framesMade: row["frames_made"],
                        coldStart: coldStart.map { $0 != 0 }, loadSeconds: row["load_seconds"])
                }
            }
        }
    }

    public func hourlyUsage(since: Date) async throws -> [TenantHour] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: FairShareUsage.query(placeholder: "?"), arguments: [since.epoch]).map {
                TenantHour(tenant: $0["tenant"], hour: $0["hour"], seconds: ($0["seconds"] as Double?) ?? 0)
            }
        }
    }

    // MARK: Claim

    public func claimNext(_ request: ClaimRequest) async throws -> Job? {
        guard !request.pipelines.isEmpty else { return nil }
        return try await writer.write { db in
            let pipelines = request.pipelines.sorted()
            let deferred = request.deferredPipelines.sorted()
            let runnable = StatementArguments([request.now.epoch]) + StatementArguments(pipelines) + StatementArguments(deferred)
                + [request.deferredBefore.epoch]
            // Fair share: each tenant's best job (one index probe each), then the first of
            // those by priority and the tenants' order. Nothing there (a tenant newer than
            // the order): the queue's own order.
            var fair: Row?
            if request.tenantOrder.count >= 2 {
                let order = String(decoding: try JSONEncoder().encode(request.tenantOrder), as: UTF8.self)
                fair = try Row.fetchOne(
                    cached: db,
                    sql: """
                        SELECT seq, webhooks FROM jobs WHERE seq IN (
                            SELECT (SELECT j.seq FROM jobs j INDEXED BY jobs_tenant_queue
                                    WHERE COALESCE(j.tenant, '') = o.value AND j.state = 'queued'
                                    AND (j.not_before IS NULL OR j.not_before <= ?)
                                    AND j.pipeline IN (\(databaseQuestionMarks(count: pipelines.count)))
                                    AND (j.pipeline NOT IN (\(databaseQuestionMarks(count: deferred.count))) OR COALESCE(j.not_before, j.submitted_at) <= ?)
                                    ORDER BY j.priority DESC, j.seq LIMIT 1)
                            FROM json_each(?) o)
                        ORDER BY priority DESC, (SELECT o.key FROM json_each(?) o WHERE o.value = COALESCE(jobs.tenant, '')), seq LIMIT 1
                        """,
                    arguments: runnable + [order, order])
            }
            // Tenants held at a limit are left out (only then: the claim without them is the
            // statement of a host without tenants).
            let held = request.heldTenants.isEmpty ? ""
                : "AND COALESCE(tenant, '') NOT IN (\(databaseQuestionMarks(count: request.heldTenants.count)))"
            guard let claimed = try fair ?? Row.fetchOne(
                cached: db,
                sql: """
                    SELECT seq, webhooks FROM jobs INDEXED BY jobs_queue
                    WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?)
                    AND pipeline IN (\(databaseQuestionMarks(count: pipelines.count)))
                    AND (pipeline NOT IN (\(databaseQuestionMarks(count: deferred.count))) OR COALESCE(not_before, submitted_at) <= ?)
                    \(held)
                    ORDER BY priority DESC, seq LIMIT 1
                    """,
                arguments: runnable + StatementArguments(request.heldTenants))
            else { return nil }
            let seq: Int64 = claimed["seq"]
            var sql = SQLWriter.sqlite()
            let sets = sql.assignments(request.assignments)
            try db.executeCached(sql: "UPDATE jobs SET \(sets) WHERE seq = ?", arguments: StatementArguments(sql.values) + [seq])
            let job = try db.fetchJob(
                sql: "SELECT \(Job.sqliteColumns) FROM jobs WHERE seq = ?", arguments: [seq], specs: self.specs)!
            try db.executeCached(
                sql: """
                    INSERT INTO attempts (job_id, number, host, gpu, started_at, heartbeat_at, outcome)
                    VALUES (?, ?, ?, ?, ?, ?, 'running')
                    """,
                arguments: [job.id.rawValue, job.attempts, request.host, job.gpu ?? request.gpu, request.now.epoch, request.now.epoch])
            try self.owe(job: job.id, reaching: .running, at: request.now, subscriptions: claimed["webhooks"], db)
            return job
        }
    }

    // MARK: Update

    @discardableResult
    public func update(_ id: JobID, to newState: JobState?, _ update: JobUpdate) async throws -> Job {
        try await writer.write { db in try self.apply(update, to: newState, id: id, db) }
    }

    private func apply(_ update: JobUpdate, to newState: JobState?, id: JobID, _ db: Database) throws -> Job {
        guard let current = try Row.fetchOne(
            cached: db, sql: "SELECT state, attempts, webhooks FROM jobs WHERE id = ?", arguments: [id.rawValue])
        else { throw SpoolError.jobNotFound(id) }
        let state = try JobState(stored: current["state"], job: id.rawValue)
        let attempts: Int = current["attempts"]
        try update.check(job: id, state: state, attempts: attempts, to: newState)
        if let newState { try owe(job: id, reaching: newState, at: update.at, subscriptions: current["webhooks"], db) }

        var assignments = update.assignments(to: newState)
        if let attempt = update.attemptAssignments, attempts > 0 {
            var sql = SQLWriter.sqlite()
            let sets = sql.assignments(attempt)
            try db.executeCached(
                sql: "UPDATE attempts SET \(sets) WHERE job_id = ? AND number = ? AND outcome = 'running'",
                arguments: StatementArguments(sql.values) + [id.rawValue, attempts])
            if db.changesCount > 0 && update.endAttempt != nil { assignments += update.endingAssignments }
        }
        if !assignments.isEmpty {
            var sql = SQLWriter.sqlite()
            let sets = sql.assignments(assignments)
            try db.executeCached(sql: "UPDATE jobs SET \(sets) WHERE id = ?", arguments: StatementArguments(sql.values) + [id.rawValue])
        }
        return try fetchJob(id, db)!
    }

    @discardableResult
    public func releaseClaim(_ id: JobID, attempt: Int, _ release: ClaimRelease) async throws -> Job {
        try await writer.write { db in
            guard let current = try Row.fetchOne(
                cached: db, sql: "SELECT state, attempts, chunks_done FROM jobs WHERE id = ?", arguments: [id.rawValue])
            else { throw SpoolError.jobNotFound(id) }
            try release.check(
                job: id, state: try JobState(stored: current["state"], job: id.rawValue), attempts: current["attempts"],
                chunksDone: current["chunks_done"], attempt: attempt)
            try db.executeCached(
                sql: "DELETE FROM attempts WHERE job_id = ? AND number = ? AND outcome = 'running'", arguments: [id.rawValue, attempt])
            var sql = SQLWriter.sqlite()
            let sets = sql.assignments(release.assignments)
            try db.executeCached(sql: "UPDATE jobs SET \(sets) WHERE id = ?", arguments: StatementArguments(sql.values) + [id.rawValue])
            return try self.fetchJob(id, db)!
        }
    }

    // MARK: Webhooks

    /// Stores the deliveries a job's move to `state` owes its subscribers (the job row's
    /// `webhooks`, read with the row the move reads anyway), in the move's commit.
    private func owe(job id: JobID, reaching state: JobState, at: Date, subscriptions stored: String?, _ db: Database) throws {
        let owed = WebhookSubscription.deliveries(
            job: id, reaching: state, at: at, subscriptions: WebhookSubscription.read(stored: stored))
        for delivery in owed {
            var sql = SQLWriter.sqlite()
            let statement = WebhookStatements.insert(delivery, &sql)
            try db.execute(sql: statement, arguments: StatementArguments(sql.values))
        }
    }

    public func claimWebhookDeliveries(_ claim: WebhookClaim) async throws -> [WebhookDelivery] {
        try await writer.write { db in
            var sql = SQLWriter.sqlite()
            let statement = WebhookStatements.claim(claim, lock: "", &sql)
            return try Row.fetchAll(db, sql: statement, arguments: StatementArguments(sql.values)).map(WebhookDelivery.init(row:))
                .sorted { ($0.nextAttemptAt ?? $0.createdAt) < ($1.nextAttemptAt ?? $1.createdAt) }
        }
    }

    public func recordWebhookTry(_ record: WebhookTryRecord) async throws -> Bool {
        try await writer.write { db in
            var held = SQLWriter.sqlite()
            let query = WebhookStatements.heldTries(record, lock: "", &held)
            guard let row = try Row.fetchOne(db, sql: query, arguments: StatementArguments(held.values)) else { return false }
            var sql = SQLWriter.sqlite()
            let statement = WebhookStatements.recordTry(record, tries: WebhookDelivery.readTries(row["tries"]), &sql)
            try db.execute(sql: statement, arguments: StatementArguments(sql.values))
            return true
        }
    }

    public func webhookDeliveries(of id: JobID) async throws -> [WebhookDelivery] {
        try await pool.read { db in
            var sql = SQLWriter.sqlite()
            let query = WebhookStatements.ofJob(id, &sql)
            return try Row.fetchAll(db, sql: query, arguments: StatementArguments(sql.values)).map(WebhookDelivery.init(row:))
        }
    }

    public func releaseWebhookLeases(host: String) async throws {
        try await writer.write { db in
            var sql = SQLWriter.sqlite()
            let statement = WebhookStatements.releaseLeases(host: host, &sql)
            try db.execute(sql: statement, arguments: StatementArguments(sql.values))
        }
    }

    // MARK: Leases and recovery

    public func confirmPublishing(_ id: JobID, attempt: Int, host: String, leaseUntil: Date) async throws -> Bool {
        try await writer.write { db in
            try db.executeCached(
                sql: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND host = ? AND attempts = ? AND state = 'encoding'",
                arguments: [leaseUntil.epoch, id.rawValue, host, attempt])
            return db.changesCount > 0
        }
    }

    /// One write transaction: the renewals, then the reads the report needs, on the writer's
    /// connection (the store of one host has no fleet to spare; the statements are those of
    /// PostgreSQL's `spool_heartbeat`, whose answers the conformance suite holds equal).
    public func heartbeat(_ beat: Heartbeat) async throws -> HeartbeatReport {
        try await writer.write { db in
            let host = beat.host
            let now = beat.now.epoch
            try db.executeCached(
                sql: "UPDATE jobs SET lease_expires_at = ? WHERE host = ? AND state IN ('running', 'encoding')",
                arguments: [beat.leaseUntil.epoch, host])
            try db.executeCached(sql: "UPDATE attempts SET heartbeat_at = ? WHERE host = ? AND outcome = 'running'", arguments: [now, host])
            try db.executeCached(sql: "UPDATE hosts SET heartbeat_at = ? WHERE name = ?", arguments: [now, host])
            var report = HeartbeatReport()
            if !beat.running.isEmpty {
                let ids = beat.running.keys.map(\.rawValue).sorted()
                for row in try Row.fetchAll(
                    db, sql: "SELECT id, state, attempts, host FROM jobs WHERE id IN (\(databaseQuestionMarks(count: ids.count)))", arguments: StatementArguments(ids)) {
                    let id: String = row["id"]
                    report.standings[JobID(id)] = JobStanding(
                        state: try JobState(stored: row["state"], job: id), host: row["host"], attempt: row["attempts"])
                }
            }
            report.expiredLeases = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM jobs WHERE state IN ('running', 'encoding') AND lease_expires_at < ?)
                """, arguments: [now]) ?? false
            let keeping = beat.keeping.map(\.rawValue).sorted()
            report.orphans = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM jobs WHERE host = ? AND state IN ('running', 'encoding') AND started_at < ?
                               AND id NOT IN (\(databaseQuestionMarks(count: keeping.count))))
                """, arguments: StatementArguments([host, now] as [any DatabaseValueConvertible]) + StatementArguments(keeping)) ?? false
            if beat.freeSlots > 0, !beat.idlePipelines.isEmpty {
                let pipelines = beat.idlePipelines.sorted()
                report.workWaiting = try Bool.fetchOne(db, sql: """
                    SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND pipeline IN (\(databaseQuestionMarks(count: pipelines.count)))
                                   AND (not_before <= ? OR (not_before IS NULL AND submitted_at <= ?)))
                    """, arguments: StatementArguments(pipelines) + [now, beat.waitingSince.epoch]) ?? false
            }
            return report
        }
    }

    // MARK: Hosts

    public func registerHost(_ host: HostRecord) async throws {
        let record = String(decoding: try JSONEncoder().encode(host), as: UTF8.self)
        try await writer.write { db in
            try db.executeCached(
                sql: "INSERT OR REPLACE INTO hosts (name, record, heartbeat_at) VALUES (?, ?, ?)",
                arguments: [host.name, record, host.heartbeatAt.epoch])
        }
    }

    public func deregisterHost(_ name: String) async throws {
        try await writer.write { db in try db.executeCached(sql: "DELETE FROM hosts WHERE name = ?", arguments: [name]) }
    }

    public func referencedInputs() async throws -> Set<String> {
        let specs = try await pool.read { db in try String.fetchAll(db, sql: InputReferences.query) }
        return InputReferences.digests(in: specs)
    }

    public func hosts() async throws -> [HostRecord] {
        try await pool.read { db in
            let decoder = JSONDecoder()
            return try Row.fetchAll(cached: db, sql: "SELECT record, heartbeat_at FROM hosts ORDER BY name").map { row in
                var host = try decoder.decode(HostRecord.self, from: Data((row["record"] as String).utf8))
                host.heartbeatAt = Date(epoch: row["heartbeat_at"])!
                return host
            }
        }
    }

    /// SQLite cannot signal other processes; the local dispatcher is woken directly and
    /// polls for jobs submitted elsewhere.
    public func queueNotifications(for host: String) -> AsyncStream<Void> {
        AsyncStream { _ in }
    }

    /// One host runs every job of a SQLite store, so its own event hub hears of each change.
    public func jobChanges() -> AsyncStream<JobChangeNotice> {
        AsyncStream { _ in }
    }

    /// One host runs every job: it needs no other host to send it changes.
    public func follow(_ job: JobID, host: String, _ following: Bool) async throws {}

    public func unfollowAll(host: String) async throws {}

    public func recoverLostJobs(_ request: RecoveryRequest) async throws -> [Job] {
        guard !request.conditions.isEmpty else { return [] }
        return try await writer.write { db in
            var sql = SQLWriter.sqlite()
            let which = sql.conditions(request.conditions, joinedBy: "OR")
            let restricted = sql.conditions(request.restrictions)
            let rows = try Row.fetchAll(
                cached: db,
                sql: """
                    SELECT id, state, attempts, spared_attempts, max_attempts, host FROM jobs
                    WHERE state IN ('running', 'encoding') AND (\(which)) AND \(restricted)
                    ORDER BY seq
                    """,
                arguments: StatementArguments(sql.values))
            return try rows.map { row in try self.recover(row: row, request: request, db) }
        }
    }

    private func recover(row: Row, request: RecoveryRequest, _ db: Database) throws -> Job {
        let id = JobID(row["id"])
        let attempts: Int = row["attempts"]
        let maxAttempts: Int = row["max_attempts"]
        let spared: Int = row["spared_attempts"]
        let host: String = row["host"] ?? "unknown"
        let state = try JobState(stored: row["state"], job: id.rawValue)
        let attempt = try Row.fetchOne(
            cached: db, sql: "SELECT started_at, heartbeat_at, outcome FROM attempts WHERE job_id = ? AND number = ?",
            arguments: [id.rawValue, attempts])
        let span = attempt.flatMap { row -> (startedAt: Double, heartbeatAt: Double?)? in
            (row["outcome"] as String) == "running" ? (row["started_at"], row["heartbeat_at"]) : nil
        }
        let (target, update) = request.takeBack(
            state: state, attempts: attempts, sparedAttempts: spared, maxAttempts: maxAttempts, host: host, lostAttemptSpan: span)
        return try apply(update, to: target, id: id, db)
    }
}
