import Foundation
import SpoolCore
import SpoolMedia

/// Everything that shapes how a host schedules and runs jobs.
public struct SchedulerConfiguration: Sendable {
    /// This host's name in the store: jobs, attempts and leases carry it.
    public var host: String
    public var data: DataDirectory
    public var slots: [GPUSlot]
    /// Used when a job names no pipeline.
    public var defaultPipeline: String
    public var encoder: EncoderSettings
    /// How encoding competes with the rest of the host for the CPU.
    public var encodingPriority: EncodingPriority
    /// The most bytes of raw frames a job's worker may have written ahead of its encoder
    /// before it is paused until the encoder catches up; nil: no bound.
    public var rawBacklogBytes: Int?

    /// The default bound on a job's raw frames ahead of its encoder: 1 GiB, 388 frames at
    /// 1280x720, 1,456 at Helios's 640x384.
    public static let defaultRawBacklogBytes = 1 << 30
    public var retry: RetryPolicy
    /// Applied when a job sets no time limit of its own; nil: none.
    public var defaultTimeLimitSeconds: Double?
    /// How long a claim holds without renewal before another host may take the job.
    public var leaseSeconds: Double
    /// How often leases are renewed and abandoned jobs looked for.
    public var heartbeatSeconds: Double
    /// How often an idle dispatcher looks for work it was not told about (retries coming
    /// due, jobs submitted by other processes).
    public var pollSeconds: Double
    /// On shutdown, how long running jobs may take to finish before they are requeued.
    public var shutdownGraceSeconds: Double
    /// Encoders working at once; by default one per core.
    public var encodeConcurrency: Int
    /// Bytes every folder Spool writes to (work, videos) keeps free beyond what a job can
    /// need; a job that would leave less waits.
    public var minFreeSpaceBytes: Int

    /// How long a job that found too little disk space waits before it is tried again.
    public var spaceRecheckSeconds: Double
    /// Resident pipelines to load at start-up, one slot each (a name twice warms two slots).
    public var warm: [String]
    /// A resident worker with no job for this long is stopped, freeing its GPU.
    public var residentIdleSeconds: Double

    public static let defaultResidentIdleSeconds = 900.0
    /// With a shared queue: how long a host that would have to load a model leaves a new
    /// job of that model's pipeline to a host that holds it ready on a free slot.
    public var affinityGraceSeconds: Double

    /// A queued job that has been ready this long while no slot could take it preempts the
    /// lowest-priority running job with checkpoints, at that job's next checkpoint
    /// (`--preempt-after`); nil: never.
    public var preemptAfterSeconds: Double?

    /// How large jobs' images and clips may be.
    public var inputLimits: InputLimits
    /// An input no job refers to any more is removed once unused for this long.
    public var inputRetentionSeconds: Double
    /// URLs told of every job submitted here (`--webhook`), and where webhooks may go
    /// (`--webhook-allow-private`).
    public var webhooks: [WebhookSubscription] = []
    public var webhookTargets = WebhookTargetRule()
    /// Whether jobs also write a live HLS preview while they encode (`--live-preview`), and
    /// how long after a job ends its preview is kept (`--live-retention-minutes`). Off unless
    /// asked for; `spool serve` asks for it unless given `--live-preview off`.
    public var livePreview = false
    public var liveRetentionSeconds: Double = 600
    /// Fair share between tenants: seconds over which a GPU-second's weight halves.
    public var fairShareHalfLifeSeconds: Double = 86_400
    /// What a tenant past its `gpuSecondsPerDay` meets (`--over-quota`).
    public var overQuota: OverQuota = .wait

    /// What a submission meets from a tenant whose GPU-seconds of the day are spent.
    public enum OverQuota: String, Sendable, CaseIterable {
        /// It is queued and waits, its `waitingReason` saying until when.
        case wait
        /// It is refused (HTTP 429, `Retry-After` when room comes back); nothing is stored.
        case refuse
    }

    /// The default free-space floor: 512 MiB.
    public static let defaultMinFreeSpaceBytes = 512 << 20

    public init(
        host: String = ProcessInfo.processInfo.hostName, data: DataDirectory, slots: [GPUSlot],
        defaultPipeline: String = "synthetic", encoder: EncoderSettings = .init(),
        encodingPriority: EncodingPriority = .default, rawBacklogBytes: Int? = defaultRawBacklogBytes, retry: RetryPolicy = .init(),
        defaultTimeLimitSeconds: Double? = nil, leaseSeconds: Double = 30, heartbeatSeconds: Double = 5,
        pollSeconds: Double = 0.25, shutdownGraceSeconds: Double = 30,
        encodeConcurrency: Int = ProcessInfo.processInfo.activeProcessorCount,
        minFreeSpaceBytes: Int = SchedulerConfiguration.defaultMinFreeSpaceBytes, spaceRecheckSeconds: Double = 5,
        warm: [String] = [], residentIdleSeconds: Double = SchedulerConfiguration.defaultResidentIdleSeconds,
        affinityGraceSeconds: Double = 1, inputLimits: InputLimits = .init(), inputRetentionSeconds: Double = 86_400
    ) {
        self.host = host
        self.data = data
        self.slots = slots
        self.defaultPipeline = defaultPipeline
        self.encoder = encoder
        self.encodingPriority = encodingPriority
        self.rawBacklogBytes = rawBacklogBytes
        self.retry = retry
        self.defaultTimeLimitSeconds = defaultTimeLimitSeconds
        self.leaseSeconds = leaseSeconds
        self.heartbeatSeconds = heartbeatSeconds
        self.pollSeconds = pollSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.encodeConcurrency = encodeConcurrency
        self.minFreeSpaceBytes = minFreeSpaceBytes
        self.spaceRecheckSeconds = spaceRecheckSeconds
        self.warm = warm
        self.residentIdleSeconds = residentIdleSeconds
        self.affinityGraceSeconds = affinityGraceSeconds
        self.inputLimits = inputLimits
        self.inputRetentionSeconds = inputRetentionSeconds
    }
}
