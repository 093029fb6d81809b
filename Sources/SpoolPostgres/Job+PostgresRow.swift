import Foundation
import PostgresNIO
import SpoolCore
import SpoolStoreKit

extension Job {
    /// Decodes a `jobs` row (every column, `SELECT *` or `RETURNING *`).
    init(postgres row: PostgresRandomAccessRow, specs: JobSpecCache) throws {
        let id = try row["id"].decode(String.self)
        let spec = try specs.spec(json: try row["spec"].decode(String.self))
        let state = try JobState(stored: try row["state"].decode(String.self), job: id)
        func date(_ column: String) throws -> Date? {
            try row[column].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        }
        self.init(
            id: JobID(id),
            spec: spec,
            state: state,
            attempts: try row["attempts"].decode(Int.self),
            maxAttempts: try row["max_attempts"].decode(Int.self),
            timings: JobTimings(
                submittedAt: try date("submitted_at")!,
                startedAt: try date("started_at"),
                firstChunkAt: try date("first_chunk_at"),
                generatedAt: try date("generated_at"),
                encodedAt: try date("encoded_at"),
                finishedAt: try date("finished_at")
            ),
            progress: JobProgress(
                framesDone: try row["frames_done"].decode(Int.self), framesTotal: try row["frames_total"].decode(Int.self),
                chunksDone: try row["chunks_done"].decode(Int.self), chunksTotal: try row["chunks_total"].decode(Int?.self)
            ),
            gpu: try row["gpu"].decode(String?.self),
            host: try row["host"].decode(String?.self),
            gpuSeconds: try row["gpu_seconds"].decode(Double.self),
            error: try row["error"].decode(String?.self),
            waitingReason: try row["waiting_reason"].decode(String?.self),
            notBefore: try date("not_before"),
            leaseExpiresAt: try date("lease_expires_at"),
            outputPath: try row["output_path"].decode(String?.self),
            posterPath: try row["poster_path"].decode(String?.self),
            coldStart: try row["cold_start"].decode(Int?.self).map { $0 != 0 },
            loadSeconds: try row["load_seconds"].decode(Double?.self),
            checkpoint: try {
                guard let chunk = try row["checkpoint_chunk"].decode(Int?.self), let frame = try row["checkpoint_frame"].decode(Int?.self),
                      let state = try row["checkpoint_state"].decode(String?.self)
                else { return nil }
                return JobCheckpoint(chunk: chunk, frame: frame, stateFile: state)
            }(),
            sparedAttempts: try row["spared_attempts"].decode(Int.self),
            tenant: try row["tenant"].decode(String?.self),
            quality: try row["quality"].decode(String?.self).flatMap(VideoQuality.init(stored:)),
            routing: try row["routing"].decode(String?.self).flatMap(JobRouting.init(stored:))
        )
    }
}

extension Attempt {
    init(postgres row: PostgresRandomAccessRow) throws {
        let job = try row["job_id"].decode(String.self)
        let outcome = try Attempt.Outcome(stored: try row["outcome"].decode(String.self), job: job)
        self.init(
            jobID: JobID(job), number: try row["number"].decode(Int.self),
            host: try row["host"].decode(String.self), gpu: try row["gpu"].decode(String.self),
            startedAt: Date(timeIntervalSince1970: try row["started_at"].decode(Double.self)),
            endedAt: try row["ended_at"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            outcome: outcome, gpuSeconds: try row["gpu_seconds"].decode(Double.self),
            error: try row["error"].decode(String?.self),
            coldStart: try row["cold_start"].decode(Int?.self).map { $0 != 0 },
            loadSeconds: try row["load_seconds"].decode(Double?.self),
            resumedFromFrame: try row["resumed_from_frame"].decode(Int?.self),
            resumeNote: try row["resume_note"].decode(String?.self)
        )
    }
}

extension SQLWriter {
    /// PostgreSQL's numbered placeholders.
    static func postgres() -> SQLWriter { SQLWriter(dialect: .postgres) { "$\($0)" } }

    /// The bound values as postgres-nio bindings.
    func bindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values { bindings.append(value) }
        return bindings
    }
}

extension PostgresBindings {
    mutating func append(_ value: StoreValue) {
        switch value {
        case .null: appendNull()
        case .integer(let int): append(int)
        case .real(let real): append(real)
        case .text(let text): append(text)
        case .texts(let texts): append(texts)
        }
    }
}

extension WebhookDelivery {
    /// A row of ``WebhookStatements/columns``.
    init(postgres row: PostgresRandomAccessRow) throws {
        func text(_ name: String) throws -> StoreValue { StoreValue(try row[name].decode(String?.self)) }
        func real(_ name: String) throws -> StoreValue { StoreValue(try row[name].decode(Double?.self)) }
        try self.init(columns: [
            text("id"), text("job_id"), text("event"), text("url"), text("state"), real("created_at"),
            real("next_attempt_at"), text("tries"), text("payload"), text("last_error"),
        ])
    }
}
