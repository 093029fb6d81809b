import Foundation
import PostgresNIO
import SpoolCore
import SpoolStoreKit

/// The claim, as a named prepared statement: each connection parses and plans it once.
/// Planning this CTE every time cost the server about a third of its claim rate
/// (pgbench, 8 clients: 1,924/s unprepared, 2,795/s prepared).
///
/// What the claim sets is ``ClaimRequest/assignments``, the rule both stores execute; its
/// shape (columns, which are `NULL`) never varies, so its text is fixed and only the values
/// change from one claim to the next.
struct ClaimStatement: PostgresPreparedStatement {
    typealias Row = PostgresRow

    static let name = "spool_claim_v6"

    static let sql = render(ClaimRequest(host: "", gpu: "", pipelines: [], now: Date(), leaseUntil: Date())).sql

    static let bindingDataTypes: [PostgresDataType] = [.float8, .textArray, .textArray, .float8, .textArray, .text, .int8] + render(
        ClaimRequest(host: "", gpu: "", pipelines: [], now: Date(), leaseUntil: Date())
    ).writer.values.map { value in
        switch value {
        case .integer: .int8
        case .real: .float8
        case .text: .text
        case .texts: .textArray
        case .null: .text
        }
    }

    var request: ClaimRequest

    /// `$1` is now, `$2` the pipelines, `$3` the deferred ones, `$4` when deferred jobs may
    /// be taken, `$5` the tenants held at a limit (``ClaimRequest/heldTenants``), `$6` the
    /// host and `$7` its free slots; the assignments follow.
    static func render(_ request: ClaimRequest) -> (sql: String, writer: SQLWriter) {
        render(request, next: """
            SELECT seq FROM jobs
                WHERE state = 'queued' AND (not_before IS NULL OR not_before <= $1)
                AND pipeline = ANY($2)
                AND (NOT pipeline = ANY($3) OR COALESCE(not_before, submitted_at) <= $4)
                AND NOT COALESCE(tenant, '') = ANY($5)
                ORDER BY priority DESC, seq LIMIT 1
                FOR UPDATE SKIP LOCKED
            """, fixedBindings: 7)
    }

    /// The claim around `next`, the selection of the job's `seq`, which binds the first
    /// `fixedBindings` placeholders.
    ///
    /// It also tells the host's row what its free slots will be once this claim is made (`$7`
    /// less the job claimed, if any) and what they can run: where the queue trigger sends the
    /// next wake-ups (schema v11). Every freed slot is followed by a claim, so the row knows
    /// of it at once rather than at the next heartbeat, in the same statement and commit.
    static func render(_ request: ClaimRequest, next: String, fixedBindings: Int) -> (sql: String, writer: SQLWriter) {
        var writer = SQLWriter(dialect: .postgres) { "$\($0 + fixedBindings)" }
        let sets = writer.assignments(request.assignments)
        let sql = """
            WITH next AS (
                \(next)
            ), claimed AS (
                UPDATE jobs SET \(sets)
                FROM next WHERE jobs.seq = next.seq
                RETURNING jobs.*
            ), attempt AS (
                INSERT INTO attempts (job_id, number, host, gpu, started_at, heartbeat_at, outcome)
                SELECT id, attempts, host, gpu, started_at, started_at, 'running' FROM claimed
            ), free AS (
                UPDATE hosts SET free_slots = GREATEST($7 - (SELECT count(*) FROM claimed), 0), idle_pipelines = $2
                WHERE name = $6
            )
            SELECT * FROM claimed
            """
        return (sql, writer)
    }

    func makeBindings() throws -> PostgresBindings {
        try Self.bindings(request, rendered: Self.render(request), expected: Self.sql, tenants: request.heldTenants)
    }

    /// `$1`…`$4` (now, pipelines, deferred ones, when deferred jobs may be taken), `tenants` as
    /// `$5` (the held ones, or the fair claim's order), the host and its free slots as `$6` and
    /// `$7`, then the assignments: the values of either claim.
    static func bindings(
        _ request: ClaimRequest, rendered: (sql: String, writer: SQLWriter), expected: String, tenants: [String]
    ) throws -> PostgresBindings {
        precondition(rendered.sql == expected, "a claim's statement never changes shape")
        var bindings = PostgresBindings(capacity: 7 + rendered.writer.values.count)
        bindings.append(request.now.timeIntervalSince1970)
        bindings.append(request.pipelines.sorted())
        bindings.append(request.deferredPipelines.sorted())
        bindings.append(request.deferredBefore.timeIntervalSince1970)
        bindings.append(tenants)
        bindings.append(request.host)
        bindings.append(Int64(request.freeSlots))
        for value in rendered.writer.values { bindings.append(value) }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The claim under fair share (``ClaimRequest/tenantOrder``): each tenant's best runnable job,
/// one probe of `jobs_tenant_queue` each and locked as it is found (a job another claim holds
/// is skipped, that tenant's next taken instead), then the first of those by priority and the
/// tenants' order. `$5` is the order, which never names a held tenant.
struct FairClaimStatement: PostgresPreparedStatement {
    typealias Row = PostgresRow

    static let name = "spool_claim_fair_v2"

    static let selection = """
        SELECT h.seq FROM unnest($5::text[]) WITH ORDINALITY AS o(name, rank)
                CROSS JOIN LATERAL (
                    SELECT seq, priority FROM jobs
                    WHERE COALESCE(tenant, '') = o.name AND state = 'queued' AND (not_before IS NULL OR not_before <= $1)
                    AND pipeline = ANY($2)
                    AND (NOT pipeline = ANY($3) OR COALESCE(not_before, submitted_at) <= $4)
                    ORDER BY priority DESC, seq LIMIT 1
                    FOR UPDATE SKIP LOCKED
                ) h
                ORDER BY h.priority DESC, o.rank, h.seq LIMIT 1
        """

    static let sql = ClaimStatement.render(
        ClaimRequest(host: "", gpu: "", pipelines: [], now: Date(), leaseUntil: Date()), next: selection, fixedBindings: 7).sql

    static let bindingDataTypes = ClaimStatement.bindingDataTypes

    var request: ClaimRequest

    func makeBindings() throws -> PostgresBindings {
        try ClaimStatement.bindings(
            request, rendered: ClaimStatement.render(request, next: Self.selection, fixedBindings: 7), expected: Self.sql,
            tenants: request.tenantOrder)
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
