import Foundation

/// One try at running a job on a GPU slot.
public struct Attempt: Hashable, Sendable, Codable {
    /// How an attempt ended.
    public enum Outcome: String, Sendable, Codable {
        /// Still running, as far as the store knows.
        case running
        /// Generation finished; the slot was released normally.
        case generated
        /// The worker failed (crash, timeout, bad output); may be retried.
        case failed
        /// The host died or lost its lease; found by recovery.
        case lost
        case cancelled
        /// Requeued by a graceful shutdown before it could finish.
        case interrupted
        /// Requeued at a checkpoint to give its slot to a higher-priority job that had waited
        /// `--preempt-after` seconds.
        case preempted

        /// Whether an attempt that ended so counts against the job's `--max-attempts`: one
        /// that Spool itself stopped at a checkpoint (a drain, a preemption) lost nothing
        /// and says nothing about the job.
        public var countsAgainstLimit: Bool { self != .interrupted && self != .preempted }
    }

    public var jobID: JobID
    /// 1-based.
    public var number: Int
    public var host: String
    public var gpu: String
    public var startedAt: Date
    public var endedAt: Date?
    public var outcome: Outcome
    /// Wall time the slot was held by this attempt.
    public var gpuSeconds: Double
    public var error: String?
    /// Whether the attempt waited for its worker to load the model, and how long; the
    /// load is not part of ``gpuSeconds``.
    public var coldStart: Bool?
    public var loadSeconds: Double?
    /// The frame this attempt went on from, when it resumed from its job's checkpoint (the
    /// frames before it were kept, not made again).
    public var resumedFromFrame: Int?
    /// Why this attempt started at frame 0 though its job had a checkpoint, when it did.
    public var resumeNote: String?

    public init(
        jobID: JobID, number: Int, host: String, gpu: String, startedAt: Date, endedAt: Date? = nil,
        outcome: Outcome = .running, gpuSeconds: Double = 0, error: String? = nil, coldStart: Bool? = nil,
        loadSeconds: Double? = nil, resumedFromFrame: Int? = nil, resumeNote: String? = nil
    ) {
        self.jobID = jobID
        self.number = number
        self.host = host
        self.gpu = gpu
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.gpuSeconds = gpuSeconds
        self.error = error
        self.coldStart = coldStart
        self.loadSeconds = loadSeconds
        self.resumedFromFrame = resumedFromFrame
        self.resumeNote = resumeNote
    }
}
