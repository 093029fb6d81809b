import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SpoolCore
import SpoolStoreKit
import SpoolSupport
import Synchronization
import Crypto

/// The shared job store: one PostgreSQL database that many Spool hosts use at once.
///
/// It behaves exactly as the SQLite store does (one conformance suite runs against both).
/// What sharing needs on top:
/// - claims are one statement, `SELECT … FOR UPDATE SKIP LOCKED` feeding an `UPDATE` and the
///   attempt's `INSERT`, so concurrent claimers on any host never wait on each other's row
///   and never get the same job;
/// - a job becoming queued wakes one host with a free slot for it, from a trigger, so a
///   host hears of submissions and requeues from any host at once instead of polling, and
///   no herd of idle hosts claims for the one job (issue 33);
/// - a host's heartbeat is one statement (`spool_heartbeat`), whatever it renews and reads;
/// - recovery skips rows another host is recovering at the same moment.
///
/// The store is a ``Service``: its connection pool runs while ``run()`` does. Register it
/// first in the host's service group, so that it stops last, after every service that
/// writes through it (see `SpoolHost`).
public final class PostgresJobStore: JobStore, Service {
    /// Every host of the fleet takes jobs from it.
    public var isShared: Bool { true }

    /// The server is down, restarting or cut off: the connection failed or closed, or the
    /// server said it cannot take connections now (SQLSTATE class 08, connection exception,
    /// or 57, operator intervention: "the database system is starting up" and its kin).
    /// Anything else the server reports (a constraint, a syntax error) is an answer.
    public func isUnreachable(_ error: any Error) -> Bool {
        if error is StoreUnavailable { return true }
        if let transaction = error as? PostgresTransactionError {
            return [transaction.closureError, transaction.commitError].contains { $0.map(isUnreachable) ?? false }
        }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57")
        default:
            return false
        }
    }
    public let address: PostgresStoreAddress
    private let client: PostgresClient
    private let logger: Logger
    /// Every `LISTEN` of this store, on one connection.
    private let listener: NotificationListener
    /// Jobs this process enqueued since it last refreshed the planner's statistics.
    private let enqueuedSinceAnalyze = Mutex(0)
    /// Specs decoded once per job rather than on every read of it.
    private let specs = JobSpecCache()

    /// After this many enqueues, `ANALYZE jobs`. With stale statistics (a queue that grew
    /// from empty within autovacuum's minute) the planner sorts every queued job on each
    /// claim instead of reading the queue index: 534 claims/s against 1,475/s, 8,000 jobs.
    static let analyzeEvery = 1_000

    /// How long a query waits for a pooled connection before it fails with
    /// ``StoreUnavailable``. The pool retries a server that went away for ever, and a query
    /// would wait with it: a door must answer, and a heartbeat must fail, for the host to
    /// fence its attempts in time (issue 27).
    public let connectionWait: Double
    public static let defaultConnectionWait = 5.0
    /// The longest a statement may take once it has its connection.
    static let statementLimit = 60.0

    private init(address: PostgresStoreAddress, connectionWait: Double, logger: Logger) {
        self.address = address
        self.connectionWait = connectionWait
        self.logger = logger
        client = PostgresClient(configuration: address.clientConfiguration, backgroundLogger: logger)
        listener = NotificationListener(client: client, logger: logger)
    }

    /// Connects, checks the server answers and migrates the schema (serialised across hosts
    /// by an advisory lock), on one direct connection. The store's pool serves queries once
    /// ``run()`` runs; queries made before wait for it.
    /// - Throws: ``PostgresStoreError`` naming the server when it cannot be reached.
    public static func connect(
        _ address: PostgresStoreAddress, connectionWait: Double = defaultConnectionWait, logger: Logger = Logger(label: "spool.postgres")
    ) async throws -> PostgresJobStore {
        // The pool retries a dead server forever; one direct connection first turns
        // "refused", "no such database" or a bad password into an error right away.
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try address.connectionConfiguration(), id: 0, logger: logger)
            do {
                try await migrate(on: connection, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            throw PostgresStoreError("cannot use the PostgreSQL store \(address): \(Self.explain(error))")
        }
        var background = logger
        background.logLevel = max(logger.logLevel, .notice)
        return PostgresJobStore(address: address, connectionWait: connectionWait, logger: background)
    }

    /// Runs the connection pool until the task is cancelled or its service group shuts down.
    public func run() async {
        await client.run()
    }

    static func explain(_ error: any Error) -> String {
        guard let psql = error as? PSQLError else {
            if let transaction = error as? PostgresTransactionError {
                return transaction.closureError.map(explain) ?? transaction.commitError.map(explain) ?? "\(transaction)"
            }
            return "\(error)"
        }
        if let message = psql.serverInfo?[.message] { return message }
        if let underlying = psql.underlying {
            let text = "\(underlying)"
            if text.contains("Connection refused") { return "connection refused (is the server running, and is the host and port right?)" }
            return text
        }
        return "\(psql.code)"
    }

    private static func migrate(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS spool_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied = Set<String>()
            for try await name in try await connection.query("SELECT name FROM spool_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            for migration in PostgresSchema.migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO spool_migrations (name) VALUES (\(migration.name))", logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    // MARK: Queries

    /// Runs `body` in a transaction, retrying it when PostgreSQL aborts it for a deadlock or
    /// a serialization failure: both say "try again", and a job update must not be lost to one.
    private func transaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await pooled { client, logger, deadline in
                    try await client.withTransaction(logger: logger) { connection in
                        deadline.disarm()
                        return try await body(connection)
                    }
                }
            } catch let error as PostgresTransactionError {
                if let spool = error.closureError as? SpoolError { throw spool }
                guard attempt < 5, Self.isTransient(error) else { throw error }
                logger.notice("transaction aborted by the server; retrying", metadata: ["error": "\(Self.explain(error))"])
                try await Task.sleep(for: .milliseconds(10 * attempt))
            }
        }
    }

    static func isTransient(_ error: PostgresTransactionError) -> Bool {
        let codes = [error.closureError, error.commitError].compactMap { ($0 as? PSQLError)?.serverInfo?[.sqlState] }
        return codes.contains { $0 == "40P01" || $0 == "40001" }
    }

    /// Runs `body` with the pool, failing with ``StoreUnavailable`` when no connection is
    /// had within ``connectionWait`` (the work disarms the deadline once it has one).
    private func pooled<R: Sendable>(
        _ body: @escaping @Sendable (PostgresClient, Logger, Deadline) async throws -> R
    ) async throws -> R {
        let (client, logger, address, wait) = (client, logger, address, connectionWait)
        do {
            // A connection the pool handed out may be dead without its socket saying so yet
            // (a server killed outright): the statement, too, has a limit, far above any it
            // takes, so that no caller (a heartbeat) waits on it for ever.
            return try await withDeadline(seconds: wait + Self.statementLimit) { _ in
                try await withDeadline(seconds: wait) { deadline in try await body(client, logger, deadline) }
            }
        } catch let error as DeadlinePassed where error.seconds == wait {
            throw StoreUnavailable(reason: "no connection to PostgreSQL at \(address.host):\(address.port) (\(error))")
        } catch let error as DeadlinePassed {
            throw StoreUnavailable(reason: "PostgreSQL at \(address.host):\(address.port) did not answer (\(error))")
        }
    }

    /// One statement in its own commit, through ``pooled(_:)``.
    @discardableResult
    private func query(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await pooled { client, logger, deadline in
            try await client.withConnection { connection in
                deadline.disarm()
                return try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
            }
        }
    }

    private func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query)
    }

    private static func rows(_ query: PostgresQuery, on connection: PostgresConnection, _ logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    /// Runs one statement in its own commit (benchmarks and maintenance).
    public func execute(_ sql: String) async throws {
        try await query(PostgresQuery(unsafeSQL: sql))
    }

    /// Runs one statement and reads every row it returns; the number of rows (benchmarks).
    public func fetchCount(_ sql: String) async throws -> Int {
        try await rows(PostgresQuery(unsafeSQL: sql)).count
    }

    /// The first column of every row `sql` returns, as text (for tests and benchmarks).
    public func fetchTexts(_ sql: String) async throws -> [String] {
        try await rows(PostgresQuery(unsafeSQL: sql)).map { try $0[0].decode(String.self) }
    }

    /// The first column of every row `sql` returns, as numbers (for tests and benchmarks).
    public func fetchDoubles(_ sql: String) async throws -> [Double] {
        try await rows(PostgresQuery(unsafeSQL: sql)).map { try $0[0].decode(Double.self) }
    }

    // MARK: Enqueue

    public func enqueue(_ request: EnqueueRequest) async throws -> EnqueueResult {
        try await enqueueAll([request])[0]
    }

    public func enqueueAll(_ requests: [EnqueueRequest]) async throws -> [EnqueueResult] {
        let specTexts = try requests.map { try JobSpecCache.json(for: $0.spec) }
        let logger = logger
        let specs = specs
        let results = try await transaction { connection in
            var results: [EnqueueResult] = []
            for (request, specJSON) in zip(requests, specTexts) {
                let spec = request.spec
                let inserted = try await Self.rows(
                    """
                    INSERT INTO jobs (id, idempotency_key, spec, pipeline, priority, state, max_attempts,
                                      submitted_at, frames_total, chunks_total, waiting_reason, webhooks, tenant, routing)
                    VALUES (\(request.id.rawValue), \(request.storedIdempotencyKey), \(specJSON), \(spec.pipeline ?? ""),
                            \(spec.priority), 'queued', \(request.maxAttempts), \(request.submittedAt.timeIntervalSince1970),
                            \(spec.frames), \(request.chunksTotal), \(request.waitingReason),
                            \(WebhookSubscription.stored(request.webhooks)), \(request.tenant), \(request.routing?.stored))
                    ON CONFLICT (idempotency_key) DO NOTHING
                    RETURNING seq
                    """, on: connection, logger)
                if inserted.isEmpty, let key = request.storedIdempotencyKey {
                    guard let row = try await Self.rows("SELECT * FROM jobs WHERE idempotency_key = \(key)", on: connection, logger).first
                    else { throw PostgresStoreError("job with idempotency key \(key) vanished while enqueuing") }
                    results.append(EnqueueResult(job: try Job(postgres: row, specs: specs), created: false))
                    continue
                }
                let job = Job(
                    id: request.id, spec: spec, maxAttempts: request.maxAttempts,
                    timings: JobTimings(submittedAt: request.submittedAt),
                    progress: JobProgress(framesTotal: spec.frames, chunksTotal: request.chunksTotal),
                    waitingReason: request.waitingReason, tenant: request.tenant, routing: request.routing)
                results.append(EnqueueResult(job: job, created: true))
            }
            return results
        }
        noteEnqueued(results.count(where: \.created))
        return results
    }

    private func noteEnqueued(_ count: Int) {
        let due = enqueuedSinceAnalyze.withLock { pending -> Bool in
            pending += count
            guard pending >= Self.analyzeEvery else { return false }
            pending = 0
            return true
        }
        guard due else { return }
        let client = client
        let logger = logger
        Task {
            do {
                try await client.query("ANALYZE jobs", logger: logger)
            } catch {
                logger.notice("refreshing the queue's statistics failed", metadata: ["error": "\(Self.explain(error))"])
            }
        }
    }

    // MARK: Reads

    public func job(_ id: JobID) async throws -> Job? {
        try await rows("SELECT * FROM jobs WHERE id = \(id.rawValue)").first.map { try Job(postgres: $0, specs: specs) }
    }

    public func jobs(_ ids: Set<JobID>) async throws -> [Job] {
        guard !ids.isEmpty else { return [] }
        let list = ids.map(\.rawValue).sorted()
        return try await rows("SELECT * FROM jobs WHERE id = ANY(\(list))").map { try Job(postgres: $0, specs: specs) }
    }

    public func jobWithPosition(_ id: JobID, scope: QueueScope) async throws -> (job: Job, queuePosition: Int?)? {
        let sameTenant = scope == .sameTenant
        guard let row = try await rows(
            """
            SELECT j.*, CASE WHEN j.state = 'queued' THEN (
                SELECT COUNT(*) + 1 FROM jobs q WHERE q.state = 'queued'
                AND (q.priority > j.priority OR (q.priority = j.priority AND q.seq < j.seq))
                AND (NOT \(sameTenant) OR COALESCE(q.tenant, '') = COALESCE(j.tenant, ''))
            ) END AS queue_position
            FROM jobs j WHERE j.id = \(id.rawValue)
            """).first
        else { return nil }
        return (try Job(postgres: row, specs: specs), try row["queue_position"].decode(Int?.self))
    }

    public func queuePosition(of id: JobID, scope: QueueScope) async throws -> Int? {
        try await jobWithPosition(id, scope: scope)?.queuePosition
    }

    public func list(_ query: JobQuery) async throws -> JobPage {
        var sql = SQLWriter.postgres()
        let filter = sql.conditions(query.conditions)
        let limit = query.pageSize
        let found = try await rows(PostgresQuery(
            unsafeSQL: "SELECT * FROM jobs WHERE \(filter) ORDER BY \(query.order) LIMIT \(limit + 1)", binds: sql.bindings()))
        let jobs = try found.prefix(limit).map { try Job(postgres: $0, specs: specs) }
        let next = found.count > limit ? JobQuery.cursor(afterSeq: try found[limit - 1]["seq"].decode(Int.self)) : nil
        return JobPage(jobs: jobs, nextCursor: next)
    }

    public func preemptionCandidate(_ query: PreemptionQuery) async throws -> Job? {
        guard !query.pipelines.isEmpty else { return nil }
        var sql = SQLWriter.postgres()
        let filter = sql.conditions(query.conditions)
        return try await rows(PostgresQuery(
            unsafeSQL: "SELECT * FROM jobs WHERE \(filter) ORDER BY \(PreemptionQuery.order) LIMIT 1", binds: sql.bindings())
        ).first.map { try Job(postgres: $0, specs: specs) }
    }

    public func delete(_ id: JobID) async throws -> Job? {
        let logger = logger
        let specs = specs
        return try await transaction { connection in
            guard let row = try await Self.rows("SELECT * FROM jobs WHERE id = \(id.rawValue) FOR UPDATE", on: connection, logger).first
            else { return nil }
            let job = try Job(postgres: row, specs: specs)
            let running = try await Self.rows(
                "SELECT COUNT(*) AS n FROM attempts WHERE job_id = \(id.rawValue) AND outcome = 'running'", on: connection, logger)
                .first?["n"].decode(Int.self) ?? 0
            try JobDeletion.check(job, runningAttempts: running)
            for statement in JobDeletion.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement.replacingOccurrences(of: "?", with: "$1"), binds: {
                    var binds = PostgresBindings()
                    binds.append(id.rawValue)
                    return binds
                }()), logger: logger)
            }
            return job
        }
    }

    public func attempts(of id: JobID) async throws -> [Attempt] {
        try await rows("SELECT * FROM attempts WHERE job_id = \(id.rawValue) ORDER BY number").map(Attempt.init(postgres:))
    }

    public func countsByState() async throws -> [JobState: Int] {
        var counts: [JobState: Int] = [:]
        for row in try await rows("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
            if let state = JobState(rawValue: try row["state"].decode(String.self)) { counts[state] = try row["n"].decode(Int.self) }
        }
        return counts
    }

    public func count(_ query: JobQuery) async throws -> Int {
        var sql = SQLWriter.postgres()
        let filter = sql.conditions(query.conditions)
        return try await rows(PostgresQuery(unsafeSQL: "SELECT COUNT(*) AS n FROM jobs WHERE \(filter)", binds: sql.bindings()))
            .first.map { try $0["n"].decode(Int.self) } ?? 0
    }

    public func tenantUsage(since: Date, now: Date) async throws -> [TenantUsage] {
        func seconds(_ sql: String, _ bound: Date) async throws -> [(tenant: String?, seconds: Double)] {
            var binds = PostgresBindings()
            binds.append(bound.timeIntervalSince1970)
            return try await rows(PostgresQuery(unsafeSQL: sql, binds: binds)).map {
                (tenant: try $0["tenant"].decode(String?.self), seconds: try $0["seconds"].decode(Double?.self) ?? 0)
            }
        }
        let active = try await rows(PostgresQuery(unsafeSQL: TenantUsageQueries.active)).map {
            (tenant: try $0["tenant"].decode(String?.self), state: try $0["state"].decode(String.self), count: try $0["n"].decode(Int.self))
        }
        return TenantUsageQueries.merge(
            ended: try await seconds(TenantUsageQueries.gpuSeconds(placeholder: "$1"), since),
            running: try await seconds(TenantUsageQueries.runningSeconds(placeholder: "$1"), now), active: active)
    }

    public func endedAttempts(since: Date, limit: Int) async throws -> [AttemptRecord] {
        try await EndedAttemptsQuery.read(since: since, limit: limit) { since, until, size in
            var binds = PostgresBindings()
            binds.append(since.timeIntervalSince1970)
            binds.append(until.timeIntervalSince1970)
            binds.append(size)
            let sql = EndedAttemptsQuery.query(since: "$1", until: "$2", limit: "$3")
            return try await rows(PostgresQuery(unsafeSQL: sql, binds: binds)).compactMap { row in
                guard let outcome = Attempt.Outcome(rawValue: try row["outcome"].decode(String.self)) else { return nil }
                return AttemptRecord(
                    jobID: JobID(try row["job_id"].decode(String.self)), pipeline: try row["pipeline"].decode(String.self),
                    outcome: outcome, number: try row["number"].decode(Int.self),
                    submittedAt: Date(timeIntervalSince1970: try row["submitted_at"].decode(Double.self)),
                    startedAt: Date(timeIntervalSince1970: try row["started_at"].decode(Double.self)),
                    endedAt: Date(timeIntervalSince1970: try row["ended_at"].decode(Double.self)),
                    gpuSeconds: try row["gpu_seconds"].decode(Double.self), framesMade: try row["frames_made"].decode(Int.self),
                    coldStart: try row["cold_start"].decode(Int?.self).map { $0 != 0 }, loadSeconds: try row["load_seconds"].decode(Double?.self))
            }
        }
    }

    public func hourlyUsage(since: Date) async throws -> [TenantHour] {
        var binds = PostgresBindings()
        binds.append(since.timeIntervalSince1970)
        return try await rows(PostgresQuery(unsafeSQL: FairShareUsage.query(placeholder: "$1"), binds: binds)).map {
            TenantHour(tenant: try $0["tenant"].decode(String.self), hour: try $0["hour"].decode(Int.self), seconds: try $0["seconds"].decode(Double?.self) ?? 0)
        }
    }

    // MARK: Claim

    public func claimNext(_ request: ClaimRequest) async throws -> Job? {
        guard !request.pipelines.isEmpty else { return nil }
        // One statement, one round trip, one commit. Under fair share, the fair statement
        // first; nothing there (a tenant newer than the order), the queue's own order.
        func claim<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> PostgresRandomAccessRow?
        where Statement.Row == PostgresRow {
            try await pooled { client, logger, deadline in
                try await client.withConnection { connection in
                    deadline.disarm()
                    var found: PostgresRandomAccessRow?
                    for try await row in try await connection.execute(statement, logger: logger) { found = row.makeRandomAccess() }
                    return found
                }
            }
        }
        var found: PostgresRandomAccessRow?
        if request.tenantOrder.count >= 2 { found = try await claim(FairClaimStatement(request: request)) }
        if found == nil { found = try await claim(ClaimStatement(request: request)) }
        guard let row = found else { return nil }
        let job = try Job(postgres: row, specs: specs)
        // The claim is one statement; a `job.started` it owes is stored right after it.
        let stored = try row["webhooks"].decode(String?.self)
        if WebhookSubscription.read(stored: stored).contains(where: { $0.events.contains(.started) }) {
            let logger = logger
            try await transaction { connection in
                try await Self.owe(job: job.id, reaching: .running, at: request.now, subscriptions: stored, on: connection, logger)
            }
        }
        return job
    }

    // MARK: Update

    @discardableResult
    public func update(_ id: JobID, to newState: JobState?, _ update: JobUpdate) async throws -> Job {
        let logger = logger
        return try await transaction { connection in
            try await Self.apply(update, to: newState, id: id, on: connection, logger, specs: self.specs)
        }
    }

    private static func apply(
        _ update: JobUpdate, to newState: JobState?, id: JobID, on connection: PostgresConnection, _ logger: Logger,
        specs: JobSpecCache
    ) async throws -> Job {
        guard let current = try await rows(
            "SELECT state, attempts, webhooks FROM jobs WHERE id = \(id.rawValue) FOR UPDATE", on: connection, logger).first
        else { throw SpoolError.jobNotFound(id) }
        let state = try JobState(stored: try current["state"].decode(String.self), job: id.rawValue)
        let attempts = try current["attempts"].decode(Int.self)
        try update.check(job: id, state: state, attempts: attempts, to: newState)
        if let newState {
            try await owe(
                job: id, reaching: newState, at: update.at, subscriptions: try current["webhooks"].decode(String?.self),
                on: connection, logger)
        }

        var assignments = update.assignments(to: newState)
        if let attempt = update.attemptAssignments, attempts > 0 {
            var sql = SQLWriter.postgres()
            let sets = sql.assignments(attempt)
            let job = sql.bind(.text(id.rawValue))
            let number = sql.bind(.integer(attempts))
            let ended = try await rows(PostgresQuery(
                unsafeSQL: "UPDATE attempts SET \(sets) WHERE job_id = \(job) AND number = \(number) AND outcome = 'running' RETURNING number",
                binds: sql.bindings()), on: connection, logger)
            if !ended.isEmpty && update.endAttempt != nil { assignments += update.endingAssignments }
        }
        var sql = SQLWriter.postgres()
        let statement = if assignments.isEmpty {
            "SELECT * FROM jobs WHERE id = \(sql.bind(.text(id.rawValue)))"
        } else {
            "UPDATE jobs SET \(sql.assignments(assignments)) WHERE id = \(sql.bind(.text(id.rawValue))) RETURNING *"
        }
        guard let row = try await rows(PostgresQuery(unsafeSQL: statement, binds: sql.bindings()), on: connection, logger).first else {
            throw SpoolError.jobNotFound(id)
        }
        return try Job(postgres: row, specs: specs)
    }

    @discardableResult
    public func releaseClaim(_ id: JobID, attempt: Int, _ release: ClaimRelease) async throws -> Job {
        let logger = logger
        let specs = specs
        return try await transaction { connection in
            guard let current = try await Self.rows(
                "SELECT state, attempts, chunks_done FROM jobs WHERE id = \(id.rawValue) FOR UPDATE", on: connection, logger).first
            else { throw SpoolError.jobNotFound(id) }
            try release.check(
                job: id, state: try JobState(stored: try current["state"].decode(String.self), job: id.rawValue),
                attempts: try current["attempts"].decode(Int.self), chunksDone: try current["chunks_done"].decode(Int.self),
                attempt: attempt)
            try await connection.query(
                "DELETE FROM attempts WHERE job_id = \(id.rawValue) AND number = \(attempt) AND outcome = 'running'", logger: logger)
            var sql = SQLWriter.postgres()
            let sets = sql.assignments(release.assignments)
            let statement = "UPDATE jobs SET \(sets) WHERE id = \(sql.bind(.text(id.rawValue))) RETURNING *"
            guard let row = try await Self.rows(PostgresQuery(unsafeSQL: statement, binds: sql.bindings()), on: connection, logger).first
            else { throw SpoolError.jobNotFound(id) }
            return try Job(postgres: row, specs: specs)
        }
    }

    // MARK: Webhooks

    /// Stores the deliveries a job's move to `state` owes its subscribers (the job row's
    /// `webhooks`, read with the row the move locks anyway), in the move's transaction.
    private static func owe(
        job id: JobID, reaching state: JobState, at: Date, subscriptions stored: String?, on connection: PostgresConnection,
        _ logger: Logger
    ) async throws {
        let owed = WebhookSubscription.deliveries(
            job: id, reaching: state, at: at, subscriptions: WebhookSubscription.read(stored: stored))
        for delivery in owed {
            var sql = SQLWriter.postgres()
            let statement = WebhookStatements.insert(delivery, &sql)
            try await connection.query(PostgresQuery(unsafeSQL: statement, binds: sql.bindings()), logger: logger)
        }
    }

    public func claimWebhookDeliveries(_ claim: WebhookClaim) async throws -> [WebhookDelivery] {
        var sql = SQLWriter.postgres()
        let statement = WebhookStatements.claim(claim, lock: "FOR UPDATE SKIP LOCKED", &sql)
        return try await rows(PostgresQuery(unsafeSQL: statement, binds: sql.bindings())).map(WebhookDelivery.init(postgres:))
            .sorted { ($0.nextAttemptAt ?? $0.createdAt) < ($1.nextAttemptAt ?? $1.createdAt) }
    }

    public func recordWebhookTry(_ record: WebhookTryRecord) async throws -> Bool {
        let logger = logger
        return try await transaction { connection in
            var held = SQLWriter.postgres()
            let query = WebhookStatements.heldTries(record, lock: "FOR UPDATE", &held)
            guard let row = try await Self.rows(PostgresQuery(unsafeSQL: query, binds: held.bindings()), on: connection, logger).first
            else { return false }
            var sql = SQLWriter.postgres()
            let statement = WebhookStatements.recordTry(
                record, tries: WebhookDelivery.readTries(try row["tries"].decode(String.self)), &sql)
            try await connection.query(PostgresQuery(unsafeSQL: statement, binds: sql.bindings()), logger: logger)
            return true
        }
    }

    public func webhookDeliveries(of id: JobID) async throws -> [WebhookDelivery] {
        var sql = SQLWriter.postgres()
        let query = WebhookStatements.ofJob(id, &sql)
        return try await rows(PostgresQuery(unsafeSQL: query, binds: sql.bindings())).map(WebhookDelivery.init(postgres:))
    }

    public func releaseWebhookLeases(host: String) async throws {
        var sql = SQLWriter.postgres()
        let statement = WebhookStatements.releaseLeases(host: host, &sql)
        try await query(PostgresQuery(unsafeSQL: statement, binds: sql.bindings()))
    }

    // MARK: Leases and recovery

    /// `spool_heartbeat` (schema v11): one statement, one commit per host and heartbeat. The
    /// three renewals used to be three commits, and reconcile, recovery and the orphan search
    /// three more statements, each made by every host at every heartbeat (issue 33).
    public func heartbeat(_ beat: Heartbeat) async throws -> HeartbeatReport {
        let running = beat.running.keys.map(\.rawValue).sorted()
        let keeping = beat.keeping.map(\.rawValue).sorted()
        let idle = beat.idlePipelines.sorted()
        let ready = beat.readyPipelines.sorted()
        let free = Int64(beat.freeSlots)
        let rows = try await query("""
            SELECT standing_ids, standing_states, standing_attempts, standing_hosts, expired, orphans, waiting
            FROM spool_heartbeat(\(beat.host), \(beat.leaseUntil.timeIntervalSince1970), \(beat.now.timeIntervalSince1970),
                                 \(running), \(keeping), \(free), \(idle), \(ready), \(beat.waitingSince.timeIntervalSince1970))
            """)
        guard let row = rows.first else { throw PostgresStoreError("spool_heartbeat returned no row") }
        let ids = try row["standing_ids"].decode([String].self)
        let states = try row["standing_states"].decode([String].self)
        let attempts = try row["standing_attempts"].decode([Int64].self)
        let hosts = try row["standing_hosts"].decode([String].self)
        var report = HeartbeatReport(
            expiredLeases: try row["expired"].decode(Bool.self), orphans: try row["orphans"].decode(Bool.self),
            workWaiting: try row["waiting"].decode(Bool.self))
        for (index, id) in ids.enumerated() where index < states.count && index < attempts.count && index < hosts.count {
            report.standings[JobID(id)] = JobStanding(
                state: try JobState(stored: states[index], job: id), host: hosts[index].isEmpty ? nil : hosts[index],
                attempt: Int(attempts[index]))
        }
        return report
    }

    public func confirmPublishing(_ id: JobID, attempt: Int, host: String, leaseUntil: Date) async throws -> Bool {
        !(try await query("""
            UPDATE jobs SET lease_expires_at = \(leaseUntil.timeIntervalSince1970)
            WHERE id = \(id.rawValue) AND host = \(host) AND attempts = \(attempt) AND state = 'encoding' RETURNING id
            """)).isEmpty
    }

    public func recoverLostJobs(_ request: RecoveryRequest) async throws -> [Job] {
        guard !request.conditions.isEmpty else { return [] }
        var sql = SQLWriter.postgres()
        let which = sql.conditions(request.conditions, joinedBy: "OR")
        let restricted = sql.conditions(request.restrictions)
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT id, state, attempts, spared_attempts, max_attempts, host FROM jobs
                WHERE state IN ('running', 'encoding') AND (\(which)) AND \(restricted)
                ORDER BY seq FOR UPDATE SKIP LOCKED
                """,
            binds: sql.bindings())
        let logger = logger
        let specs = specs
        return try await transaction { connection in
            var recovered: [Job] = []
            let rows = try await Self.rows(query, on: connection, logger)
            // A host whose jobs are taken back for an expired lease is gone, or cut off: it gets
            // no wake-ups (the requeues' among them, sent by the trigger below) until it claims
            // or beats again. Its row is skipped if locked: a host whose heartbeat holds it is alive.
            let gone = Set(try rows.compactMap { try $0["host"].decode(String?.self) }).subtracting([request.restartedHost].compactMap { $0 })
            if !gone.isEmpty {
                try await Self.rows("""
                    UPDATE hosts SET free_slots = 0 WHERE name IN (
                        SELECT name FROM hosts WHERE name = ANY(\(Array(gone).sorted())) AND free_slots > 0 FOR UPDATE SKIP LOCKED)
                    """, on: connection, logger)
            }
            for row in rows {
                recovered.append(try await Self.recover(row: row, request: request, on: connection, logger, specs: specs))
            }
            return recovered
        }
    }

    private static func recover(
        row: PostgresRandomAccessRow, request: RecoveryRequest, on connection: PostgresConnection, _ logger: Logger,
        specs: JobSpecCache
    ) async throws -> Job {
        let id = JobID(try row["id"].decode(String.self))
        let attempts = try row["attempts"].decode(Int.self)
        let maxAttempts = try row["max_attempts"].decode(Int.self)
        let spared = try row["spared_attempts"].decode(Int.self)
        let host = try row["host"].decode(String?.self) ?? "unknown"
        let state = try JobState(stored: try row["state"].decode(String.self), job: id.rawValue)
        var span: (startedAt: Double, heartbeatAt: Double?)?
        if let attempt = try await rows(
            "SELECT started_at, heartbeat_at, outcome FROM attempts WHERE job_id = \(id.rawValue) AND number = \(attempts)",
            on: connection, logger).first, try attempt["outcome"].decode(String.self) == "running" {
            span = (try attempt["started_at"].decode(Double.self), try attempt["heartbeat_at"].decode(Double?.self))
        }
        let (target, update) = request.takeBack(
            state: state, attempts: attempts, sparedAttempts: spared, maxAttempts: maxAttempts, host: host, lostAttemptSpan: span)
        return try await apply(update, to: target, id: id, on: connection, logger, specs: specs)
    }

    // MARK: Hosts

    public func registerHost(_ host: HostRecord) async throws {
        let record = String(decoding: try JSONEncoder().encode(host), as: UTF8.self)
        try await query(
            """
            INSERT INTO hosts (name, record, heartbeat_at, free_slots, idle_pipelines, ready_pipelines)
            VALUES (\(host.name), \(record), \(host.heartbeatAt.timeIntervalSince1970), \(Int64(host.slots.count)), \(host.pipelines),
                    \(host.readyPipelines))
            ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record, heartbeat_at = EXCLUDED.heartbeat_at,
                ready_pipelines = EXCLUDED.ready_pipelines
            """)
    }

    public func deregisterHost(_ name: String) async throws {
        try await query("DELETE FROM hosts WHERE name = \(name)")
    }

    public func referencedInputs() async throws -> Set<String> {
        let specs = try await rows(PostgresQuery(unsafeSQL: InputReferences.query)).map { try $0["spec"].decode(String.self) }
        return InputReferences.digests(in: specs)
    }

    public func hosts() async throws -> [HostRecord] {
        let decoder = JSONDecoder()
        return try await rows("SELECT record, heartbeat_at FROM hosts ORDER BY name").map { row in
            var host = try decoder.decode(HostRecord.self, from: Data(try row["record"].decode(String.self).utf8))
            host.heartbeatAt = Date(timeIntervalSince1970: try row["heartbeat_at"].decode(Double.self))
            return host
        }
    }

    // MARK: Notifications

    /// Yields once as soon as it listens, then whenever a job submitted or requeued by any
    /// host is sent to `host` (see `spool_notify_queue`, schema v11).
    public func queueNotifications(for host: String) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let listening = listen(on: Self.wakeChannel(for: host)) { _ in _ = continuation.yield() }
        continuation.onTermination = { _ in listening() }
        return stream
    }

    public func follow(_ job: JobID, host: String, _ following: Bool) async throws {
        if following {
            try await query("INSERT INTO followed_jobs (job_id, host) VALUES (\(job.rawValue), \(host)) ON CONFLICT DO NOTHING")
        } else {
            try await query("DELETE FROM followed_jobs WHERE job_id = \(job.rawValue) AND host = \(host)")
        }
    }

    public func unfollowAll(host: String) async throws {
        try await query("DELETE FROM followed_jobs WHERE host = \(host)")
    }

    /// The channel a host's wake-ups come on: `pg_notify`'s `'spool_wake_' || md5(name)`.
    static func wakeChannel(for host: String) -> String {
        PostgresSchema.wakeChannelPrefix + Insecure.MD5.hash(data: Data(host.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Changes any host makes to a job's state or chunk count, from the `spool_jobs` trigger.
    public func jobChanges() -> AsyncStream<JobChangeNotice> {
        let (stream, continuation) = AsyncStream.makeStream(of: JobChangeNotice.self, bufferingPolicy: .bufferingNewest(4_096))
        let logger = logger
        let listening = listen(on: PostgresSchema.jobChangesChannel) { payload in
            guard let payload else {
                continuation.yield(.listening)
                return
            }
            guard let change = JobChange(notification: payload) else {
                logger.warning("ignored a job change notification this version cannot read", metadata: ["payload": "\(payload)"])
                return
            }
            continuation.yield(.changed(change))
        }
        continuation.onTermination = { _ in listening() }
        return stream
    }

    /// Listens on `channel` (on the store's one listening connection) until the returned
    /// closure is called, calling `handle` with nil each time it starts listening, then with
    /// each notification's payload.
    private func listen(on channel: String, _ handle: @escaping @Sendable (String?) -> Void) -> @Sendable () -> Void {
        let id = listener.add(channel, handle)
        let listener = listener
        return { listener.remove(id) }
    }
}
