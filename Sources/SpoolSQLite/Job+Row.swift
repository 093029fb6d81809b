import Foundation
import GRDB
import SpoolCore

extension Job {
    /// The columns ``init(row:specs:)`` reads, in the order it reads them: reading by position
    /// skips GRDB's case-insensitive lookup of each column name, which the hot reads (a poll,
    /// a claim, every update's result) would otherwise pay 24 times.
    static let sqliteColumns = """
        id, spec, state, attempts, max_attempts, submitted_at, started_at, first_chunk_at, generated_at,
        encoded_at, finished_at, frames_done, frames_total, chunks_done, chunks_total, gpu, host, gpu_seconds,
        error, waiting_reason, not_before, lease_expires_at, output_path, poster_path
        """

    /// Decodes a `jobs` row selected as ``sqliteColumns``.
    init(row: Row, specs: JobSpecCache) throws {
        let stateText: String = row[2]
        guard let state = JobState(rawValue: stateText) else {
            throw DatabaseError(message: "unknown job state \(stateText)")
        }
        self.init(
            id: JobID(row[0]),
            spec: try specs.spec(json: row[1]),
            state: state,
            attempts: row[3],
            maxAttempts: row[4],
            timings: JobTimings(
                submittedAt: Date(epoch: row[5])!,
                startedAt: Date(epoch: row[6]),
                firstChunkAt: Date(epoch: row[7]),
                generatedAt: Date(epoch: row[8]),
                encodedAt: Date(epoch: row[9]),
                finishedAt: Date(epoch: row[10])
            ),
            progress: JobProgress(framesDone: row[11], framesTotal: row[12], chunksDone: row[13], chunksTotal: row[14]),
            gpu: row[15],
            host: row[16],
            gpuSeconds: row[17],
            error: row[18],
            waitingReason: row[19],
            notBefore: Date(epoch: row[20]),
            leaseExpiresAt: Date(epoch: row[21]),
            outputPath: row[22],
            posterPath: row[23]
        )
    }
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
