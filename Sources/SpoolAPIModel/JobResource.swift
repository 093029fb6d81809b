import Foundation
import SpoolCore

/// A job as `GET /v1/jobs/{id}` shows it: everything a dashboard polls for.
public struct JobResource: Codable, Sendable, Hashable {
    public struct Progress: Codable, Sendable, Hashable {
        public var framesDone: Int
        public var framesTotal: Int
        public var chunksDone: Int
        public var chunksTotal: Int?
        public var percent: Double
    }

    /// Where the job would go on from if its attempt ended now: after `chunk`, with `frame`
    /// frames final.
    public struct Checkpoint: Codable, Sendable, Hashable {
        public var chunk: Int
        public var frame: Int
    }

    public struct Timings: Codable, Sendable, Hashable {
        public var submittedAt: Date
        public var startedAt: Date?
        public var firstChunkAt: Date?
        public var generatedAt: Date?
        public var encodedAt: Date?
        public var finishedAt: Date?
        /// Seconds, derived from the stamps above.
        public var queueWait: Double?
        public var timeToFirstChunk: Double?
        public var generationTime: Double?
        public var encodeTail: Double?
        public var totalLatency: Double?
    }

    public var id: String
    public var state: JobState
    public var spec: JobSpec
    public var progress: Progress
    /// 1 for the job that runs next; only while queued. Counted over the whole queue for the
    /// host and admins, over its own tenant's jobs for a user (`/v1/usage` has the pool's total).
    public var queuePosition: Int?
    public var timings: Timings
    /// Video seconds per generation second.
    public var realTimeFactor: Double?
    public var attempts: Int
    public var maxAttempts: Int
    /// Attempts Spool stopped itself at a checkpoint (a drain, a preemption): not counted
    /// against ``maxAttempts``.
    public var sparedAttempts: Int
    public var gpu: String?
    public var host: String?
    /// The tenant that submitted the job (`spool serve --tokens`), if any.
    public var tenant: String?
    public var gpuSeconds: Double
    /// Whether the latest attempt waited for its model to load, and how long (not part of
    /// ``gpuSeconds``).
    public var coldStart: Bool?
    public var loadSeconds: Double?
    public var checkpoint: Checkpoint?
    /// What Spool measured of the video while encoding it (``VideoQuality``).
    public var quality: VideoQuality?
    /// How Spool chose the pipeline of a routed job (``JobRouting``).
    public var routing: JobRouting?
    public var error: String?
    public var waitingReason: String?
    public var videoURL: String?
    public var posterURL: String?
    /// Where the MP4 is on the daemon's host.
    public var videoPath: String?

    public init(_ job: Job, queuePosition: Int? = nil) {
        id = job.id.rawValue
        state = job.state
        spec = job.spec
        progress = Progress(
            framesDone: job.progress.framesDone, framesTotal: job.progress.framesTotal,
            chunksDone: job.progress.chunksDone, chunksTotal: job.progress.chunksTotal,
            percent: (job.progress.percent * 10).rounded() / 10)
        self.queuePosition = queuePosition
        let t = job.timings
        timings = Timings(
            submittedAt: t.submittedAt, startedAt: t.startedAt, firstChunkAt: t.firstChunkAt, generatedAt: t.generatedAt,
            encodedAt: t.encodedAt, finishedAt: t.finishedAt, queueWait: t.queueWait, timeToFirstChunk: t.timeToFirstChunk,
            generationTime: t.generationTime, encodeTail: t.encodeTail, totalLatency: t.totalLatency)
        realTimeFactor = job.realTimeFactor
        attempts = job.attempts
        maxAttempts = job.maxAttempts
        sparedAttempts = job.sparedAttempts
        gpu = job.gpu
        host = job.host
        tenant = job.tenant
        gpuSeconds = job.gpuSeconds
        coldStart = job.coldStart
        loadSeconds = job.loadSeconds
        checkpoint = job.checkpoint.map { Checkpoint(chunk: $0.chunk, frame: $0.frame) }
        quality = job.state == .succeeded ? job.quality : nil
        routing = job.routing
        error = job.error
        waitingReason = job.state == .queued ? job.waitingReason : nil
        if job.state == .succeeded, job.outputPath != nil {
            videoURL = "/v1/jobs/\(job.id)/video"
            videoPath = job.outputPath
            posterURL = job.posterPath == nil ? nil : "/v1/jobs/\(job.id)/poster"
        }
    }
}

/// A page of jobs.
public struct JobList: Codable, Sendable {
    public var jobs: [JobResource]
    public var nextCursor: String?

    public init(jobs: [JobResource], nextCursor: String?) {
        self.jobs = jobs
        self.nextCursor = nextCursor
    }
}
