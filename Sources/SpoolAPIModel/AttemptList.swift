import Foundation
import SpoolCore

/// A job's attempts, as `GET /v1/jobs/{id}/attempts` shows them: where each ran, how it
/// ended and why, and what it cost. This is what says why a job took the tries it did.
public struct AttemptList: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        /// 1-based.
        public var number: Int
        public var host: String
        public var gpu: String
        public var startedAt: Date
        public var endedAt: Date?
        /// `running`, `generated`, `failed`, `lost` (its host died or lost its lease),
        /// `cancelled` or `interrupted` (requeued by a graceful shutdown).
        public var outcome: Attempt.Outcome
        /// Slot time this attempt held, a model load excluded.
        public var gpuSeconds: Double
        /// Whether the attempt waited for its worker to load the model, and how long.
        public var coldStart: Bool?
        public var loadSeconds: Double?
        /// The frame the attempt went on from, when it resumed from the job's checkpoint.
        public var resumedFromFrame: Int?
        /// Why the attempt started at frame 0 though the job had a checkpoint.
        public var resumeNote: String?
        public var error: String?

        public init(_ attempt: Attempt) {
            number = attempt.number
            host = attempt.host
            gpu = attempt.gpu
            startedAt = attempt.startedAt
            endedAt = attempt.endedAt
            outcome = attempt.outcome
            gpuSeconds = attempt.gpuSeconds
            coldStart = attempt.coldStart
            loadSeconds = attempt.loadSeconds
            resumedFromFrame = attempt.resumedFromFrame
            resumeNote = attempt.resumeNote
            error = attempt.error
        }
    }

    public var job: String
    /// Oldest first.
    public var attempts: [Entry]

    public init(job: JobID, attempts: [Attempt]) {
        self.job = job.rawValue
        self.attempts = attempts.sorted { $0.number < $1.number }.map(Entry.init)
    }
}
