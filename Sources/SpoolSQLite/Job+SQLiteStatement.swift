import Foundation
import GRDB
import GRDBSQLite
import SpoolCore
import SpoolStoreKit

extension Job {
    /// Decodes the row `statement` stands on, selected as ``sqliteColumns`` (first).
    ///
    /// Straight from the statement: GRDB's `Row` would first copy all 24 values, then decode
    /// the copies, which costs more than the query on the hot paths (a poll, a claim, every
    /// update, each of which returns the job).
    init(statement s: OpaquePointer, specs: JobSpecCache) throws {
        func text(_ column: Int32) -> String? {
            sqlite3_column_type(s, column) == SQLITE_NULL ? nil : String(cString: sqlite3_column_text(s, column))
        }
        func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(s, column)) }
        func optionalInt(_ column: Int32) -> Int? { sqlite3_column_type(s, column) == SQLITE_NULL ? nil : int(column) }
        func date(_ column: Int32) -> Date? {
            sqlite3_column_type(s, column) == SQLITE_NULL ? nil : Date(timeIntervalSince1970: sqlite3_column_double(s, column))
        }
        let id = text(0) ?? ""
        let state = try JobState(stored: text(2), job: id)
        guard let submittedAt = date(5) else { throw SpoolError.unreadableJob(job: JobID(id), reason: "it has no submitted_at") }
        self.init(
            id: JobID(id), spec: try specs.spec(json: text(1) ?? ""), state: state, attempts: int(3), maxAttempts: int(4),
            timings: JobTimings(
                submittedAt: submittedAt, startedAt: date(6), firstChunkAt: date(7),
                generatedAt: date(8), encodedAt: date(9), finishedAt: date(10)),
            progress: JobProgress(framesDone: int(11), framesTotal: int(12), chunksDone: int(13), chunksTotal: optionalInt(14)),
            gpu: text(15), host: text(16), gpuSeconds: sqlite3_column_double(s, 17), error: text(18),
            waitingReason: text(19), notBefore: date(20), leaseExpiresAt: date(21), outputPath: text(22), posterPath: text(23),
            coldStart: optionalInt(24).map { $0 != 0 },
            loadSeconds: sqlite3_column_type(s, 25) == SQLITE_NULL ? nil : sqlite3_column_double(s, 25),
            checkpoint: optionalInt(26).flatMap { chunk in
                optionalInt(27).flatMap { frame in text(28).map { JobCheckpoint(chunk: chunk, frame: frame, stateFile: $0) } }
            },
            sparedAttempts: int(29), tenant: text(30), quality: text(31).flatMap(VideoQuality.init(stored:)),
            routing: text(32).flatMap(JobRouting.init(stored:)))
    }
}

extension Database {
    /// Steps a cached `SELECT` and hands `body` each row while the statement stands on it.
    func forEachRow(sql: String, arguments: StatementArguments, _ body: (OpaquePointer) throws -> Void) throws {
        let statement = try cachedStatement(sql: sql)
        try statement.setArguments(arguments)
        let s = statement.sqliteStatement
        defer { sqlite3_reset(s) }
        while true {
            switch sqlite3_step(s) {
            case SQLITE_ROW: try body(s)
            case SQLITE_DONE: return
            case let code: throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: sql)
            }
        }
    }

    /// The first row of a `SELECT` whose result starts with ``Job/sqliteColumns``.
    func fetchJob(sql: String, arguments: StatementArguments, specs: JobSpecCache) throws -> Job? {
        var job: Job?
        try forEachRow(sql: sql, arguments: arguments) { s in
            if job == nil { job = try Job(statement: s, specs: specs) }
        }
        return job
    }
}
