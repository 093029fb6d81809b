import Foundation
import GRDB
import SpoolCore

extension Job {
    /// Decodes a `jobs` row.
    init(row: Row, decoder: JSONDecoder) throws {
        let specText: String = row["spec"]
        let spec = try decoder.decode(JobSpec.self, from: Data(specText.utf8))
        let stateText: String = row["state"]
        guard let state = JobState(rawValue: stateText) else {
            throw DatabaseError(message: "unknown job state \(stateText)")
        }
        self.init(
            id: JobID(row["id"]),
            spec: spec,
            state: state,
            attempts: row["attempts"],
            maxAttempts: row["max_attempts"],
            timings: JobTimings(
                submittedAt: Date(epoch: row["submitted_at"])!,
                startedAt: Date(epoch: row["started_at"]),
                firstChunkAt: Date(epoch: row["first_chunk_at"]),
                generatedAt: Date(epoch: row["generated_at"]),
                encodedAt: Date(epoch: row["encoded_at"]),
                finishedAt: Date(epoch: row["finished_at"])
            ),
            progress: JobProgress(
                framesDone: row["frames_done"], framesTotal: row["frames_total"],
                chunksDone: row["chunks_done"], chunksTotal: row["chunks_total"]
            ),
            gpu: row["gpu"],
            host: row["host"],
            gpuSeconds: row["gpu_seconds"],
            error: row["error"],
            waitingReason: row["waiting_reason"],
            notBefore: Date(epoch: row["not_before"]),
            leaseExpiresAt: Date(epoch: row["lease_expires_at"]),
            outputPath: row["output_path"],
            posterPath: row["poster_path"]
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
