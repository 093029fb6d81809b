import Foundation
import GRDB
import SpoolCore
import SpoolStoreKit

extension Job {
    /// The columns ``init(statement:specs:)`` reads, in the order it reads them.
    static let sqliteColumns = """
        id, spec, state, attempts, max_attempts, submitted_at, started_at, first_chunk_at, generated_at,
        encoded_at, finished_at, frames_done, frames_total, chunks_done, chunks_total, gpu, host, gpu_seconds,
        error, waiting_reason, not_before, lease_expires_at, output_path, poster_path, cold_start, load_seconds,
        checkpoint_chunk, checkpoint_frame, checkpoint_state, spared_attempts, tenant, quality, routing
        """

    /// How many columns ``sqliteColumns`` names: the index of the first column a query
    /// selects after them.
    static let sqliteColumnCount: Int32 = 33
}

extension Attempt {
    init(row: Row) throws {
        let job: String = row["job_id"]
        let coldStart: Int? = row["cold_start"]
        self.init(
            jobID: JobID(job), number: row["number"], host: row["host"], gpu: row["gpu"],
            startedAt: Date(epoch: row["started_at"])!, endedAt: Date(epoch: row["ended_at"]),
            outcome: try Attempt.Outcome(stored: row["outcome"], job: job), gpuSeconds: row["gpu_seconds"], error: row["error"],
            coldStart: coldStart.map { $0 != 0 }, loadSeconds: row["load_seconds"],
            resumedFromFrame: row["resumed_from_frame"], resumeNote: row["resume_note"]
        )
    }
}

extension StatementArguments {
    /// The values a statement of the store's shared rules binds, in order.
    init(_ values: [StoreValue]) {
        self.init(values.map { value -> DatabaseValue in
            switch value {
            case .null: .null
            case .integer(let int): int.databaseValue
            case .real(let real): real.databaseValue
            case .text(let text): text.databaseValue
            case .texts: preconditionFailure("SQLite binds no lists; SQLWriter renders them as single values")
            }
        })
    }
}

extension SQLWriter {
    /// SQLite's placeholders.
    static func sqlite() -> SQLWriter { SQLWriter(dialect: .sqlite) { _ in "?" } }
}

extension Date {
    /// Dates are stored as REAL seconds since 1970: exact to the microsecond and cheap to compare.
    init?(epoch: Double?) {
        guard let epoch else { return nil }
        self.init(timeIntervalSince1970: epoch)
    }

    var epoch: Double { timeIntervalSince1970 }
}

extension WebhookDelivery {
    /// A row of ``WebhookStatements/columns``.
    init(row: Row) throws {
        try self.init(columns: row.databaseValues.map { value -> StoreValue in
            switch value.storage {
            case .null: .null
            case .int64(let int): .integer(Int(int))
            case .double(let real): .real(real)
            case .string(let text): .text(text)
            case .blob(let data): .text(String(decoding: data, as: UTF8.self))
            }
        })
    }
}
