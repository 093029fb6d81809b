import Foundation
import GRDB
import SpoolCore

extension Job {
    /// The columns ``init(statement:specs:)`` reads, in the order it reads them.
    static let sqliteColumns = """
        id, spec, state, attempts, max_attempts, submitted_at, started_at, first_chunk_at, generated_at,
        encoded_at, finished_at, frames_done, frames_total, chunks_done, chunks_total, gpu, host, gpu_seconds,
        error, waiting_reason, not_before, lease_expires_at, output_path, poster_path
        """

    /// How many columns ``sqliteColumns`` names: the index of the first column a query
    /// selects after them.
    static let sqliteColumnCount: Int32 = 24
}

extension Attempt {
    init(row: Row) throws {
        let outcomeText: String = row["outcome"]
        guard let outcome = Attempt.Outcome(rawValue: outcomeText) else {
            throw DatabaseError(message: "unknown attempt outcome \(outcomeText)")
        }
        self.init(
            jobID: JobID(row["job_id"]), number: row["number"], host: row["host"], gpu: row["gpu"],
            startedAt: Date(epoch: row["started_at"])!, endedAt: Date(epoch: row["ended_at"]),
            outcome: outcome, gpuSeconds: row["gpu_seconds"], error: row["error"]
        )
    }
}

extension Date {
    /// Dates are stored as REAL seconds since 1970: exact to the microsecond and cheap to compare.
    init?(epoch: Double?) {
        guard let epoch else { return nil }
        self.init(timeIntervalSince1970: epoch)
    }

    var epoch: Double { timeIntervalSince1970 }
}
