import Foundation
import GRDB
import GRDBSQLite
import SpoolCore
import Synchronization

/// Reads one job by id (and its queue position) on plain SQLite connections, for the reads
/// that are polled thousands of times a second: `GET /v1/jobs/{id}`, the dispatcher's and
/// the drop folder's lookups.
///
/// Through GRDB's pool the same two indexed lookups cost about 43 µs: a reader checkout
/// behind a semaphore, a dispatch-queue hop, a schema-version check, and every column copied
/// into a `Row` before it is decoded. Here a caller takes an idle connection from a list
/// under a mutex (opening one when none is idle, so there are never more than the threads
/// reading at once), steps two prepared statements and decodes straight from them.
/// Each statement is its own WAL snapshot, as GRDB's reads outside a transaction are.
final class JobPointReader: Sendable {
    private let path: String
    private let specs: JobSpecCache
    private let idle = Mutex<[Connection]>([])

    init(path: String, specs: JobSpecCache) {
        self.path = path
        self.specs = specs
    }

    /// The job, and its 1-based queue position among `scope`'s jobs while queued.
    func job(_ id: JobID, scope: QueueScope) throws -> (job: Job, queuePosition: Int?)? {
        let connection = try idle.withLock { $0.popLast() } ?? Connection(path: path)
        defer { idle.withLock { $0.append(connection) } }
        return try connection.job(id, scope: scope, specs: specs)
    }

    /// One read-only connection and its three statements.
    /// `@unchecked Sendable`: a SQLite connection is handed from thread to thread, never shared.
    private final class Connection: @unchecked Sendable {
        private var handle: OpaquePointer?
        private var byID: OpaquePointer?
        private var ahead: OpaquePointer?
        /// The same count among the job's own tenant's jobs (the partial index `jobs_tenant_queue`).
        private var aheadInTenant: OpaquePointer?

        init(path: String) throws {
            guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
                defer { sqlite3_close_v2(handle) }
                throw DatabaseError(message: "cannot open \(path) for reading: \(String(cString: sqlite3_errmsg(handle)))")
            }
            sqlite3_busy_timeout(handle, 30_000)
            byID = try prepare("SELECT \(Job.sqliteColumns), priority, seq FROM jobs WHERE id = ?1")
            ahead = try prepare("""
                SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND (priority > ?1 OR (priority = ?1 AND seq < ?2))
                """)
            aheadInTenant = try prepare("""
                SELECT COUNT(*) FROM jobs INDEXED BY jobs_tenant_queue WHERE COALESCE(tenant, '') = ?3 AND state = 'queued'
                AND (priority > ?1 OR (priority = ?1 AND seq < ?2))
                """)
        }

        deinit {
            sqlite3_finalize(byID)
            sqlite3_finalize(ahead)
            sqlite3_finalize(aheadInTenant)
            sqlite3_close_v2(handle)
        }

        private func prepare(_ sql: String) throws -> OpaquePointer? {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK else {
                throw error("preparing \(sql)")
            }
            return statement
        }

        private func error(_ doing: String) -> DatabaseError {
            DatabaseError(message: "SQLite error \(doing): \(String(cString: sqlite3_errmsg(handle)))")
        }

        func job(_ id: JobID, scope: QueueScope, specs: JobSpecCache) throws -> (job: Job, queuePosition: Int?)? {
            let ahead = scope == .everyone ? ahead : aheadInTenant
            defer {
                sqlite3_reset(byID)
                sqlite3_reset(ahead)
            }
            sqlite3_bind_text(byID, 1, id.rawValue, -1, SQLITE_TRANSIENT)
            switch sqlite3_step(byID) {
            case SQLITE_ROW: break
            case SQLITE_DONE: return nil
            default: throw error("reading job \(id)")
            }
            let job = try Job(statement: byID!, specs: specs)
            guard job.state == .queued else { return (job, nil) }
            // priority and seq, selected after the job's columns.
            sqlite3_bind_int64(ahead, 1, sqlite3_column_int64(byID, Job.sqliteColumnCount))
            sqlite3_bind_int64(ahead, 2, sqlite3_column_int64(byID, Job.sqliteColumnCount + 1))
            if scope == .sameTenant { sqlite3_bind_text(ahead, 3, job.tenant ?? "", -1, SQLITE_TRANSIENT) }
            guard sqlite3_step(ahead) == SQLITE_ROW else { throw error("counting the jobs ahead of \(id)") }
            return (job, Int(sqlite3_column_int64(ahead, 0)) + 1)
        }
    }
}

/// SQLite copies the bound text (the C macro does not import).
private let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
