import Foundation
import SpoolCore

// The rules both stores execute, written once: what a claim resets, how an update maps to
// columns, how a list is filtered and paged, which active jobs recovery takes back. Each
// store renders these into its own SQL dialect (`?` or `$n` placeholders) and binds the
// values its own way; neither decides any of it for itself.

/// A value a store binds into a statement.
public enum StoreValue: Sendable, Hashable {
    case null
    case integer(Int)
    case real(Double)
    case text(String)
    /// A list of texts: PostgreSQL binds it as one `text[]`; SQLite never sees one (see
    /// ``ColumnAssignment/Change/lookup(key:table:fallback:)``).
    case texts([String])

    public init(_ value: String?) { self = value.map(StoreValue.text) ?? .null }
    public init(_ value: Int?) { self = value.map(StoreValue.integer) ?? .null }
    public init(_ value: Double?) { self = value.map(StoreValue.real) ?? .null }
    public init(_ value: Bool?) { self = value.map { .integer($0 ? 1 : 0) } ?? .null }
    /// Times are stored as seconds since 1970, in both stores.
    public init(_ value: Date?) { self = value.map { .real($0.timeIntervalSince1970) } ?? .null }
}

/// What one column of a row is set to.
public struct ColumnAssignment: Sendable, Hashable {
    public enum Change: Sendable, Hashable {
        /// `column = value`
        case set(StoreValue)
        /// `column = column + value`
        case add(StoreValue)
        /// `column =` the value `table` gives the row's `key` column, else `fallback`.
        case lookup(key: String, table: [(String, String)], fallback: String)

        public static func == (a: Change, b: Change) -> Bool {
            switch (a, b) {
            case (.set(let x), .set(let y)), (.add(let x), .add(let y)): x == y
            case (.lookup(let k1, let t1, let f1), .lookup(let k2, let t2, let f2)):
                k1 == k2 && f1 == f2 && t1.map { [$0.0, $0.1] } == t2.map { [$0.0, $0.1] }
            default: false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .set(let value): hasher.combine(0); hasher.combine(value)
            case .add(let value): hasher.combine(1); hasher.combine(value)
            case .lookup(let key, let table, let fallback):
                hasher.combine(key)
                for (k, v) in table { hasher.combine(k); hasher.combine(v) }
                hasher.combine(fallback)
            }
        }
    }

    public var column: String
    public var change: Change

    public init(_ column: String, _ value: StoreValue) {
        self.column = column
        change = .set(value)
    }

    public init(_ column: String, adding value: StoreValue) {
        self.column = column
        change = .add(value)
    }

    public init(column: String, change: Change) {
        self.column = column
        self.change = change
    }
}

/// A condition on one column.
public enum ColumnCondition: Sendable, Hashable {
    case equals(String, StoreValue)
    case oneOf(String, [StoreValue])
    case lessThan(String, StoreValue)
    case greaterThan(String, StoreValue)
    /// The job's place in the queue's order comes after job `id`'s: `seq` below its (newest
    /// first) or above it (oldest first).
    case seqPast(job: String, oldestFirst: Bool)
    case notOneOf(String, [StoreValue])
    /// `column IS NOT NULL AND column < value`
    case setAndBefore(String, StoreValue)
    /// A queued job has been ready to run since `value` or before: since its `not_before`
    /// (a retry, a requeue) or, when it has none, its submission.
    case readySince(StoreValue)
    /// `state = 'queued'`, written out rather than bound, so both stores' partial queue
    /// index (`jobs_queue`) serves the query.
    case queued
}

/// Renders conditions and assignments as SQL text with placeholders, collecting the values
/// to bind in order. A store supplies its dialect and placeholder style.
public struct SQLWriter: Sendable {
    public enum Dialect: Sendable { case sqlite, postgres }

    public let dialect: Dialect
    /// The placeholder for the `n`th bound value (1-based): `?` for SQLite, `$n` for PostgreSQL.
    private let placeholder: @Sendable (Int) -> String
    public private(set) var values: [StoreValue] = []

    public init(dialect: Dialect, placeholder: @escaping @Sendable (Int) -> String) {
        self.dialect = dialect
        self.placeholder = placeholder
    }

    /// Binds `value` and returns its placeholder.
    public mutating func bind(_ value: StoreValue) -> String {
        values.append(value)
        return placeholder(values.count)
    }

    /// `a = ?, b = b + ?, …`
    public mutating func assignments(_ list: [ColumnAssignment]) -> String {
        list.map { assignment in
            switch assignment.change {
            case .set(.null): "\(assignment.column) = NULL"
            case .set(let value): "\(assignment.column) = \(bind(value))"
            case .add(let value): "\(assignment.column) = \(assignment.column) + \(bind(value))"
            case .lookup(let key, let table, let fallback): "\(assignment.column) = \(lookup(key, table, fallback))"
            }
        }.joined(separator: ", ")
    }

    /// The value `table` gives the row's `key` column, else `fallback`. PostgreSQL's text is
    /// the same whatever the table's size, so a prepared statement can hold it.
    private mutating func lookup(_ key: String, _ table: [(String, String)], _ fallback: String) -> String {
        switch dialect {
        case .sqlite:
            guard !table.isEmpty else { return bind(.text(fallback)) }
            let cases = table.map { "WHEN \(bind(.text($0.0))) THEN \(bind(.text($0.1)))" }.joined(separator: " ")
            return "CASE \(key) \(cases) ELSE \(bind(.text(fallback))) END"
        case .postgres:
            let keys = bind(.texts(table.map(\.0)))
            let values = bind(.texts(table.map(\.1)))
            return "COALESCE((SELECT m.v FROM unnest(\(keys)::text[], \(values)::text[]) AS m(k, v) WHERE m.k = \(key) LIMIT 1), \(bind(.text(fallback))))"
        }
    }

    /// The conditions joined with `joiner` (`AND`, `OR`); `fallback` when there are none.
    public mutating func conditions(_ list: [ColumnCondition], joinedBy joiner: String = "AND", fallback: String = "TRUE") -> String {
        guard !list.isEmpty else { return fallback }
        return list.map { condition in
            switch condition {
            case .equals(let column, let value): "\(column) = \(bind(value))"
            case .lessThan(let column, let value): "\(column) < \(bind(value))"
            case .greaterThan(let column, let value): "\(column) > \(bind(value))"
            case .seqPast(let job, let oldestFirst):
                "seq \(oldestFirst ? ">" : "<") (SELECT seq FROM jobs WHERE id = \(bind(.text(job))))"
            case .setAndBefore(let column, let value): "(\(column) IS NOT NULL AND \(column) < \(bind(value)))"
            case .readySince(let value): "COALESCE(not_before, submitted_at) <= \(bind(value))"
            case .queued: "state = '\(JobState.queued.rawValue)'"
            case .oneOf(let column, let values):
                values.isEmpty ? "FALSE" : "\(column) IN (\(values.map { bind($0) }.joined(separator: ", ")))"
            case .notOneOf(let column, let values):
                values.isEmpty ? "TRUE" : "\(column) NOT IN (\(values.map { bind($0) }.joined(separator: ", ")))"
            }
        }.joined(separator: " \(joiner) ")
    }
}

// MARK: - The rules

extension ClaimRequest {
    /// What claiming sets on the job: running on this slot, a new attempt, the previous
    /// attempt's progress and stamps cleared.
    public var assignments: [ColumnAssignment] {
        [
            .init("state", .text(JobState.running.rawValue)),
            .init("attempts", adding: .integer(1)),
            .init("started_at", StoreValue(now)),
            .init("first_chunk_at", .null), .init("generated_at", .null), .init("encoded_at", .null),
            .init("frames_done", .integer(0)), .init("chunks_done", .integer(0)),
            ColumnAssignment(
                column: "gpu", change: .lookup(key: "pipeline", table: slotByPipeline.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, fallback: gpu)),
            .init("host", .text(host)),
            .init("lease_expires_at", StoreValue(leaseUntil)),
            .init("waiting_reason", .null), .init("not_before", .null),
            .init("cold_start", .null), .init("load_seconds", .null),
        ]
    }
}

extension ClaimRelease {
    /// What handing a claim back sets: queued as before it, the attempt not counted.
    public var assignments: [ColumnAssignment] {
        [
            .init("state", .text(JobState.queued.rawValue)),
            .init("attempts", adding: .integer(-1)),
            .init("started_at", .null), .init("gpu", .null), .init("host", .null), .init("lease_expires_at", .null),
            .init("waiting_reason", .text(waitingReason)), .init("not_before", StoreValue(notBefore)),
        ]
    }

    /// Whether a job in `state` on attempt `attempts` with `chunksDone` chunks can be handed
    /// back by `attempt`: only a claim nothing has come of yet.
    public func check(job id: JobID, state: JobState, attempts: Int, chunksDone: Int, attempt: Int) throws(SpoolError) {
        if attempt != attempts { throw .staleAttempt(job: id, attempt: attempt, current: attempts) }
        guard state == .running, chunksDone == 0 else { throw .illegalTransition(job: id, from: state, to: .queued) }
    }
}

extension JobUpdate {
    /// The job's columns this update (and its transition to `newState`, if any) sets,
    /// apart from the slot time of an ended attempt (``attemptCharge``), which is added
    /// only if the attempt was still running.
    public func assignments(to newState: JobState?) -> [ColumnAssignment] {
        var list: [ColumnAssignment] = []
        if let newState {
            list.append(.init("state", .text(newState.rawValue)))
            if newState.isFinal {
                list.append(.init("finished_at", StoreValue(at)))
                // An ended job goes on from nowhere; its checkpoint's files are removed with it.
                if checkpoint == nil {
                    list += [.init("checkpoint_chunk", .null), .init("checkpoint_frame", .null), .init("checkpoint_state", .null)]
                }
            }
            if newState.isFinal || newState == .queued { list.append(.init("lease_expires_at", .null)) }
        }
        if let progress {
            list += [
                .init("frames_done", .integer(progress.framesDone)), .init("frames_total", .integer(progress.framesTotal)),
                .init("chunks_done", .integer(progress.chunksDone)), .init("chunks_total", StoreValue(progress.chunksTotal)),
            ]
        }
        if let firstChunkAt { list.append(.init("first_chunk_at", StoreValue(firstChunkAt))) }
        if let generatedAt { list.append(.init("generated_at", StoreValue(generatedAt))) }
        if let encodedAt { list.append(.init("encoded_at", StoreValue(encodedAt))) }
        if let error {
            list.append(.init("error", .text(error)))
        } else if clearError {
            list.append(.init("error", .null))
        }
        if let waitingReason { list.append(.init("waiting_reason", .text(waitingReason))) }
        if let notBefore { list.append(.init("not_before", StoreValue(notBefore))) }
        if let outputPath { list.append(.init("output_path", .text(outputPath))) }
        if let posterPath { list.append(.init("poster_path", .text(posterPath))) }
        if spareAttempt { list.append(.init("spared_attempts", adding: .integer(1))) }
        if let quality { list.append(.init("quality", .text(quality.stored))) }
        if let reroute, let spec = try? JobSpecCache.json(for: reroute.spec) {
            list += [
                .init("spec", .text(spec)), .init("pipeline", .text(reroute.spec.pipeline ?? "")),
                .init("routing", .text(reroute.routing.stored)), .init("chunks_total", .integer(reroute.chunksTotal)),
            ]
        }
        if let load {
            list += [.init("cold_start", StoreValue(load.coldStart)), .init("load_seconds", StoreValue(load.seconds))]
        }
        if let checkpoint {
            list += [
                .init("checkpoint_chunk", .integer(checkpoint.chunk)), .init("checkpoint_frame", .integer(checkpoint.frame)),
                .init("checkpoint_state", .text(checkpoint.stateFile)),
            ]
        } else if clearCheckpoint && !(newState?.isFinal ?? false) {
            list += [.init("checkpoint_chunk", .null), .init("checkpoint_frame", .null), .init("checkpoint_state", .null)]
        }
        return list
    }

    /// The attempt's columns this update sets: where it started (``resume``), and how it
    /// ended (when ``endAttempt`` is set). Applied only to an attempt still `running`: ending
    /// one twice must not count its slot time twice (the job is charged only when the ending
    /// changed a row).
    public var attemptAssignments: [ColumnAssignment]? {
        var list: [ColumnAssignment] = []
        if let resume {
            list += [.init("resumed_from_frame", StoreValue(resume.fromFrame)), .init("resume_note", StoreValue(resume.note))]
        }
        if let endAttempt {
            list += [
                .init("ended_at", StoreValue(at)), .init("outcome", .text(endAttempt.rawValue)),
                .init("gpu_seconds", .real(attemptCharge)), .init("error", StoreValue(error)),
            ]
            if let load {
                list += [.init("cold_start", StoreValue(load.coldStart)), .init("load_seconds", StoreValue(load.seconds))]
            }
            if let attemptPipeline { list.append(.init("pipeline", .text(attemptPipeline))) }
        }
        return list.isEmpty ? nil : list
    }

    /// Slot time the ended attempt adds to the job: never negative.
    public var attemptCharge: Double { max(0, attemptGPUSeconds ?? 0) }

    /// What ending a still-running attempt adds to the job: its slot time, and a spared
    /// attempt when it ended in a way that does not count against the job's limit.
    public var endingAssignments: [ColumnAssignment] {
        var list: [ColumnAssignment] = [.init("gpu_seconds", adding: .real(attemptCharge))]
        if let endAttempt, !endAttempt.countsAgainstLimit { list.append(.init("spared_attempts", adding: .integer(1))) }
        return list
    }
}

extension JobQuery {
    /// The largest page a list returns.
    public static let maxLimit = 1_000

    /// The page size actually used: 1…``maxLimit``.
    public var pageSize: Int { max(1, min(limit, Self.maxLimit)) }

    /// The filter: states, pipeline, and the cursor (jobs older than the previous page's last).
    public var conditions: [ColumnCondition] {
        var list: [ColumnCondition] = []
        if let states { list.append(.oneOf("state", states.map(\.rawValue).sorted().map(StoreValue.text))) }
        if let pipeline { list.append(.equals("pipeline", .text(pipeline))) }
        if let tenant { list.append(.equals("tenant", .text(tenant))) }
        if let cursor, let seq = Int(cursor) {
            list.append(oldestFirst ? .greaterThan("seq", .integer(seq)) : .lessThan("seq", .integer(seq)))
        }
        if let after { list.append(.seqPast(job: after.rawValue, oldestFirst: oldestFirst)) }
        return list
    }

    /// The order of a page: `seq DESC` (newest first) or `seq`.
    public var order: String { oldestFirst ? "seq" : "seq DESC" }

    /// The cursor of the page after one that ended with the job numbered `seq`.
    public static func cursor(afterSeq seq: Int) -> String { String(seq) }
}

extension PreemptionQuery {
    /// The candidates: queued, of a pipeline the slots run, of higher priority, and ready
    /// since ``waitingSince``.
    public var conditions: [ColumnCondition] {
        [
            .queued,
            .oneOf("pipeline", pipelines.sorted().map(StoreValue.text)),
            .greaterThan("priority", .integer(abovePriority)),
            .readySince(StoreValue(waitingSince)),
        ]
    }

    /// The queue's own order: the job a free slot would claim first.
    public static let order = "priority DESC, seq"
}

extension RecoveryRequest {
    /// Which active (running or encoding) jobs to take back: any of these holds. Empty
    /// when the request asks for nothing.
    public var conditions: [ColumnCondition] {
        var list: [ColumnCondition] = []
        if let restartedHost { list.append(.equals("host", .text(restartedHost))) }
        if expiredLeases { list.append(.setAndBefore("lease_expires_at", StoreValue(now))) }
        return list
    }

    /// Conditions every job taken back must also meet.
    public var restrictions: [ColumnCondition] {
        var list: [ColumnCondition] = []
        if !keeping.isEmpty { list.append(.notOneOf("id", keeping.map(\.rawValue).sorted().map(StoreValue.text))) }
        if let startedBefore { list.append(.setAndBefore("started_at", StoreValue(startedBefore))) }
        return list
    }
}

extension JobState {
    /// The state a row holds, or a typed error naming the job: a row written by a newer
    /// version of Spool, or edited by hand, must not crash the daemon.
    public init(stored text: String?, job: String) throws(SpoolError) {
        guard let text, let state = JobState(rawValue: text) else {
            throw SpoolError.unreadableJob(job: JobID(job), reason: "its state \"\(text ?? "NULL")\" is not one this version of Spool knows (\(JobState.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self = state
    }
}

extension Attempt.Outcome {
    /// The outcome a row holds, or a typed error naming the job.
    public init(stored text: String, job: String) throws(SpoolError) {
        guard let outcome = Attempt.Outcome(rawValue: text) else {
            throw SpoolError.unreadableJob(job: JobID(job), reason: "an attempt's outcome \"\(text)\" is not one this version of Spool knows")
        }
        self = outcome
    }
}

extension EnqueueRequest {
    /// The idempotency key as stored: a tenant's keys are its own, so the same key from two
    /// tenants makes two jobs. A key without a tenant is stored as given (as before tenants);
    /// a tenant's is prefixed with its name and a unit separator, a character validation
    /// refuses in a key, so no key of one can be another's.
    public var storedIdempotencyKey: String? {
        guard let key = spec.idempotencyKey else { return nil }
        return tenant.map { "\($0)\u{1F}\(key)" } ?? key
    }
}

/// How both stores read tenants' use of the pool: three grouped reads, merged by one rule.
public enum TenantUsageQueries {
    /// Each attempt ended since the one bound value, with its job's tenant (`NULL`: the host's)
    /// looked up by the job's id. A subquery, not a join: PostgreSQL joined 1,019 attempts of a
    /// day by hashing every row of `jobs` (a sequential scan of 100,000 finished jobs, the plan
    /// test's find); looked up, the work follows the attempts in the window, not the history.
    static func attemptsEnded(since placeholder: String) -> String {
        """
        SELECT (SELECT j.tenant FROM jobs j WHERE j.id = a.job_id) AS tenant, a.ended_at AS ended_at, a.gpu_seconds AS gpu_seconds
        FROM attempts a WHERE a.ended_at >= \(placeholder)
        """
    }

    /// Slot time of attempts ended since the one bound value (`placeholder`), by tenant.
    public static func gpuSeconds(placeholder: String) -> String {
        "SELECT tenant, SUM(gpu_seconds) AS seconds FROM (\(attemptsEnded(since: placeholder))) ended GROUP BY tenant"
    }

    /// The slot time so far of the jobs running now, by tenant (binds now): a burst counts as
    /// it runs, not only once its attempts end.
    public static func runningSeconds(placeholder: String) -> String {
        "SELECT tenant, SUM(\(placeholder) - started_at) AS seconds FROM jobs WHERE state = 'running' GROUP BY tenant"
    }

    /// Active jobs by tenant and state.
    public static let active = """
        SELECT tenant, state, COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running', 'encoding') GROUP BY tenant, state
        """

    /// One entry per tenant, ordered by name (the host's own jobs first).
    public static func merge(
        ended: [(tenant: String?, seconds: Double)], running: [(tenant: String?, seconds: Double)],
        active: [(tenant: String?, state: String, count: Int)]
    ) -> [TenantUsage] {
        var byTenant: [String?: TenantUsage] = [:]
        for (tenant, seconds) in ended { byTenant[tenant, default: TenantUsage(tenant: tenant)].endedSeconds += seconds }
        for (tenant, seconds) in running { byTenant[tenant, default: TenantUsage(tenant: tenant)].runningSeconds += max(0, seconds) }
        for (tenant, state, count) in active {
            switch state {
            case "queued": byTenant[tenant, default: TenantUsage(tenant: tenant)].queued += count
            case "running": byTenant[tenant, default: TenantUsage(tenant: tenant)].running += count
            default: byTenant[tenant, default: TenantUsage(tenant: tenant)].encoding += count
            }
        }
        return byTenant.values.sorted { ($0.tenant ?? "") < ($1.tenant ?? "") }
    }
}

/// Slot time by tenant and hour, for both stores (``JobStore/hourlyUsage(since:)``): what fair
/// share decays and a daily quota's room is told from, by the scheduler's rules.
public enum FairShareUsage {
    /// Binds the earliest `ended_at` counted.
    public static func query(placeholder: String) -> String {
        """
        SELECT COALESCE(tenant, '') AS tenant, CAST(ended_at / 3600 AS INTEGER) AS hour, SUM(gpu_seconds) AS seconds
        FROM (\(TenantUsageQueries.attemptsEnded(since: placeholder))) ended
        GROUP BY COALESCE(tenant, ''), CAST(ended_at / 3600 AS INTEGER)
        """
    }
}

/// The ended attempts the router judges pipelines by (``JobStore/endedAttempts(since:limit:)``),
/// for both stores: newest first through `attempts_ended`, each with the pipeline it ran on
/// (the job's, for attempts from before attempts recorded it) and the frames it made.
public enum EndedAttemptsQuery {
    /// Rows a statement reads. Small, so PostgreSQL walks `attempts_ended` backwards and looks
    /// each job up by its key: asked for 5,000 rows at once, it read all of `jobs` into a hash
    /// instead (`PostgresPlanTests`, 100,000 jobs).
    public static let pageSize = 250

    /// Binds the earliest `ended_at`, the latest, then the most rows.
    public static func query(since: String, until: String, limit: String) -> String {
        """
        SELECT a.job_id, COALESCE(a.pipeline, j.pipeline) AS pipeline, a.outcome, a.number, j.submitted_at, a.started_at, a.ended_at,
               a.gpu_seconds, j.frames_total - COALESCE(a.resumed_from_frame, 0) AS frames_made, a.cold_start, a.load_seconds
        FROM attempts a JOIN jobs j ON j.id = a.job_id
        WHERE a.ended_at >= \(since) AND a.ended_at <= \(until) AND a.outcome <> 'running'
        ORDER BY a.ended_at DESC
        LIMIT \(limit)
        """
    }

    /// Up to `limit` attempts that ended since `since`, newest first, read a page at a time by
    /// `page(since, until, pageSize)`: each page from the previous one's oldest `ended_at` back
    /// (inclusive, so attempts that ended at the same moment are all read; one read twice is
    /// kept once).
    public static func read(
        since: Date, limit: Int, page: (_ since: Date, _ until: Date, _ size: Int) async throws -> [AttemptRecord]
    ) async throws -> [AttemptRecord] {
        var records: [AttemptRecord] = []
        var seen: Set<AttemptRecord.Key> = []
        var until = Date(timeIntervalSince1970: 1e12)
        while records.count < limit {
            let rows = try await page(since, until, pageSize)
            var added = 0
            for row in rows where seen.insert(row.key).inserted {
                records.append(row)
                added += 1
            }
            guard rows.count == pageSize, added > 0, let oldest = rows.last?.endedAt else { break }
            until = oldest
        }
        return Array(records.prefix(limit))
    }
}
