import Foundation

/// A job as stored: its spec, where it is, and what it cost so far.
public struct Job: Hashable, Sendable, Codable, Identifiable {
    public var id: JobID
    /// The resolved spec: pipeline, size and seed are always set.
    public var spec: JobSpec
    public var state: JobState
    /// Attempts started so far (1 while the first attempt runs).
    public var attempts: Int
    public var maxAttempts: Int
    /// Attempts that do not count against ``maxAttempts``: stopped by Spool at a checkpoint
    /// (interrupted by a drain, preempted), see ``Attempt/Outcome/countsAgainstLimit``.
    public var sparedAttempts: Int
    public var timings: JobTimings
    public var progress: JobProgress
    /// The slot of the latest attempt, e.g. `gpu0` or `virtual1`.
    public var gpu: String?
    /// The host of the latest attempt.
    public var host: String?
    /// Slot time held by every attempt, failed and lost ones included.
    public var gpuSeconds: Double
    /// Why the job failed, or why the last attempt failed while retries remain.
    public var error: String?
    /// Why a queued job is not running yet, when it cannot run anywhere known.
    public var waitingReason: String?
    /// Earliest time a retry may start.
    public var notBefore: Date?
    /// Until when the running host's claim holds; past it, another host may take the job.
    public var leaseExpiresAt: Date?
    public var outputPath: String?
    public var posterPath: String?
    /// Whether the latest attempt had to wait for its model to load (nil before it knew).
    public var coldStart: Bool?
    /// How long the latest attempt waited for its model to load; not part of ``gpuSeconds``.
    public var loadSeconds: Double?
    /// The latest checkpoint an attempt kept, if its pipeline makes them.
    public var checkpoint: JobCheckpoint?
    /// The tenant that submitted the job (`--tokens`); nil for a job of the host's own token,
    /// of loopback without tokens, or from before tenants.
    public var tenant: String?
    /// What Spool measured of the video while encoding it; nil until it succeeded, and for
    /// jobs from before it measured.
    public var quality: VideoQuality?
    /// How Spool chose the pipeline of a routed job (`"pipeline": "auto"`); nil for a job that
    /// named its own.
    public var routing: JobRouting?

    public init(
        id: JobID, spec: JobSpec, state: JobState = .queued, attempts: Int = 0, maxAttempts: Int,
        timings: JobTimings, progress: JobProgress, gpu: String? = nil, host: String? = nil,
        gpuSeconds: Double = 0, error: String? = nil, waitingReason: String? = nil, notBefore: Date? = nil,
        leaseExpiresAt: Date? = nil, outputPath: String? = nil, posterPath: String? = nil, coldStart: Bool? = nil,
        loadSeconds: Double? = nil, checkpoint: JobCheckpoint? = nil, sparedAttempts: Int = 0, tenant: String? = nil,
        quality: VideoQuality? = nil, routing: JobRouting? = nil
    ) {
        self.routing = routing
        self.tenant = tenant
        self.quality = quality
        self.id = id
        self.spec = spec
        self.state = state
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.sparedAttempts = sparedAttempts
        self.timings = timings
        self.progress = progress
        self.gpu = gpu
        self.host = host
        self.gpuSeconds = gpuSeconds
        self.error = error
        self.waitingReason = waitingReason
        self.notBefore = notBefore
        self.leaseExpiresAt = leaseExpiresAt
        self.outputPath = outputPath
        self.posterPath = posterPath
        self.coldStart = coldStart
        self.loadSeconds = loadSeconds
        self.checkpoint = checkpoint
    }

    /// Attempts so far that count against ``maxAttempts``.
    public var countedAttempts: Int { max(0, attempts - sparedAttempts) }

    /// The pipeline name of a resolved spec.
    public var pipeline: String { spec.pipeline ?? "" }

    /// Video seconds produced per second of generation; above 1 is faster than real time.
    public var realTimeFactor: Double? {
        guard let generation = timings.generationTime, generation > 0 else { return nil }
        return spec.durationSeconds / generation
    }
}
