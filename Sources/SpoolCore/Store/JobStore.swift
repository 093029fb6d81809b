import Foundation

/// Durable job storage shared by every part of Spool.
///
/// Every state change is written here before it is acted on. Implementations must make
/// ``claimNext(_:)`` atomic across processes and hosts: no two claimers ever get the
/// same job. ``SpoolSQLite`` is the embedded store; a PostgreSQL store serves many hosts.
public protocol JobStore: Sendable {
    /// Stores a new queued job, or returns the existing one when `spec.idempotencyKey`
    /// was seen before. `spec` must be resolved and valid.
    func enqueue(_ request: EnqueueRequest) async throws -> EnqueueResult

    /// Enqueues many jobs in one durable commit; results are in the same order.
    func enqueueAll(_ requests: [EnqueueRequest]) async throws -> [EnqueueResult]

    func job(_ id: JobID) async throws -> Job?

    /// The jobs of `ids` that exist, in no particular order: one read for many.
    func jobs(_ ids: Set<JobID>) async throws -> [Job]

    /// A job and, while it is queued, its place among the queued jobs of `scope`, read together.
    func jobWithPosition(_ id: JobID, scope: QueueScope) async throws -> (job: Job, queuePosition: Int?)?

    /// Newest first (or oldest first), filtered and paged.
    func list(_ query: JobQuery) async throws -> JobPage

    /// Removes a finished job and its attempts and webhook deliveries; its files are the
    /// caller's to remove. Returns the job as it was, nil when there is none.
    ///
    /// - Throws: ``SpoolError/illegalTransition(job:from:to:)`` for a job that is not final,
    ///   or whose last attempt has not yet closed its books (a cancelled job still stopping).
    func delete(_ id: JobID) async throws -> Job?

    /// 1 for the job that runs next (of `scope`'s jobs); nil unless the job is queued.
    func queuePosition(of id: JobID, scope: QueueScope) async throws -> Int?

    /// Atomically takes the best runnable job, highest priority then oldest, and marks it
    /// running on the given slot with a new attempt. nil when nothing is runnable.
    func claimNext(_ request: ClaimRequest) async throws -> Job?

    /// Applies `update` and, when `to` is given, moves the job to that state.
    ///
    /// A final job accepts only `to: nil` with `endAttempt` set: closing the books on an
    /// attempt that was still running when the job was cancelled.
    ///
    /// - Throws: ``SpoolError/illegalTransition(job:from:to:)`` for a transition the state
    ///   machine forbids, ``SpoolError/staleAttempt(job:attempt:current:)`` when
    ///   `update.attempt` is no longer the job's attempt, ``SpoolError/jobNotFound(_:)``.
    @discardableResult
    func update(_ id: JobID, to state: JobState?, _ update: JobUpdate) async throws -> Job

    /// Hands back a claim before anything ran: the job is queued again as if never claimed
    /// (its attempt is not counted, nor recorded), with why it waits.
    ///
    /// - Throws: ``SpoolError/illegalTransition(job:from:to:)`` unless the job is running on
    ///   `attempt` with nothing done yet, ``SpoolError/staleAttempt(job:attempt:current:)``.
    @discardableResult
    func releaseClaim(_ id: JobID, attempt: Int, _ release: ClaimRelease) async throws -> Job

    /// Every attempt of a job, oldest first.
    func attempts(of id: JobID) async throws -> [Attempt]

    /// One heartbeat (see ``Heartbeat``): extends the lease of every job the host is
    /// running, its running attempts' heartbeats and its registry entry, proving it alive, and
    /// reports where its attempts stand and what there is to recover, settle or claim. A
    /// shared store does it in one statement; ``renewLeases(host:until:now:)`` is a heartbeat
    /// that asks nothing.
    func heartbeat(_ beat: Heartbeat) async throws -> HeartbeatReport

    /// The step before an attempt publishes its video: extends the job's lease to
    /// `leaseUntil` only if the job is still `attempt`'s, encoding on `host`. Returns whether
    /// it was: true means no other host can take the job before `leaseUntil`; false means the
    /// attempt is stale and must publish nothing (issue 27).
    func confirmPublishing(_ id: JobID, attempt: Int, host: String, leaseUntil: Date) async throws -> Bool

    /// Takes back jobs whose host is gone: those whose lease expired, and, at a host's
    /// start-up, every job the previous run of that host left active. Each lost attempt
    /// is recorded with the slot time it held; the job is requeued, or failed once its
    /// attempts are used up.
    func recoverLostJobs(_ request: RecoveryRequest) async throws -> [Job]

    /// The job a preemption would make room for: the first in the queue's order (priority,
    /// then age) among ``PreemptionQuery/pipelines`` whose priority is above
    /// ``PreemptionQuery/abovePriority`` and that has been ready to run since
    /// ``PreemptionQuery/waitingSince`` or earlier; nil when none.
    func preemptionCandidate(_ query: PreemptionQuery) async throws -> Job?

    /// Counts of jobs by state.
    func countsByState() async throws -> [JobState: Int]

    /// How many jobs match the query's filter (its paging aside): a tenant's queued jobs.
    func count(_ query: JobQuery) async throws -> Int

    /// Each tenant's use of the pool: the slot time of its attempts that ended since `since`,
    /// that of its jobs running at `now` so far, and its jobs queued, running and encoding.
    /// One entry per tenant with any.
    func tenantUsage(since: Date, now: Date) async throws -> [TenantUsage]

    /// Each tenant's slot time by the hour its attempts ended in, since `since` (`""` for the
    /// host's own jobs): what fair share decays, and what tells when a tenant over its daily
    /// quota has room again.
    func hourlyUsage(since: Date) async throws -> [TenantHour]

    /// The attempts that ended since `since`, newest first, at most `limit`: what the router
    /// judges each pipeline by (``PipelineHistory/summarize(_:fps:)``).
    func endedAttempts(since: Date, limit: Int) async throws -> [AttemptRecord]

    /// The SHA-256 of every input any stored job refers to (see ``InputReferences``).
    func referencedInputs() async throws -> Set<String>

    // MARK: Hosts

    /// Adds or replaces a host in the registry.
    func registerHost(_ host: HostRecord) async throws

    /// Removes a host that is leaving; its jobs must already be finished or requeued.
    func deregisterHost(_ name: String) async throws

    /// Every registered host, live or not, by name.
    func hosts() async throws -> [HostRecord]

    /// Yields once as soon as it listens, then whenever `host` should look for a job that
    /// became claimable: one submitted or requeued by any process sharing the store, which
    /// the store sent to this host (one host per job, of those whose last heartbeat said they
    /// had a free slot for its pipeline: no herd of hosts all claiming the one job). Stores
    /// without cross-process notification return a stream that never yields; their
    /// dispatchers poll.
    func queueNotifications(for host: String) -> AsyncStream<Void>

    // MARK: Webhooks
    //
    // A job's move to a state its subscribers asked to hear of stores their deliveries in
    // the same commit (``WebhookSubscription/deliveries(job:reaching:at:subscriptions:)``),
    // so none is lost to a crash and none is owed twice.

    /// Leases the deliveries due now to `claim.host`; no other host gets them until the
    /// lease ends or the try is recorded.
    func claimWebhookDeliveries(_ claim: WebhookClaim) async throws -> [WebhookDelivery]

    /// Records a try of a delivery the host still holds and ends its lease; false (nothing
    /// recorded) when the host no longer holds it.
    @discardableResult
    func recordWebhookTry(_ record: WebhookTryRecord) async throws -> Bool

    /// A job's deliveries, oldest first.
    func webhookDeliveries(of id: JobID) async throws -> [WebhookDelivery]

    /// Ends every lease `host` holds: its previous run is gone, so they are due again now.
    func releaseWebhookLeases(host: String) async throws

    /// Changes to a job's state or chunk count made by any process sharing the store, so a
    /// host can follow jobs that run on another (server-sent events, drop-folder results):
    /// those of the jobs some host follows (``follow(_:host:_:)``). Yields
    /// ``JobChangeNotice/listening`` each time it starts listening. Stores whose jobs never
    /// run in another process return a stream that never yields.
    func jobChanges() -> AsyncStream<JobChangeNotice>

    /// `host` follows `job` (`true`) or no longer does: a shared store sends the job's changes
    /// (``jobChanges()``) only while some host follows it, not every change of every job to
    /// every host (issue 33). A store whose jobs never run in another process has nothing to send.
    func follow(_ job: JobID, host: String, _ following: Bool) async throws

    /// Forgets every job `host` followed: its previous run's.
    func unfollowAll(host: String) async throws

    /// The store's reads that never suspend (a local file), when it has them: the HTTP server
    /// answers job polls from them on its event loops. nil for a store across a network.
    var synchronousReads: (any SynchronousJobReading)? { get }

    /// Whether other hosts take jobs from this store (a shared queue): then a host whose
    /// leases run out unrenewed must stop its attempts, since another may take their jobs. A
    /// store of one host (SQLite) has no one to fence against: an outage there is a full
    /// disk, and running attempts go on while their outcomes wait.
    var isShared: Bool { get }

    /// Whether `error`, thrown by this store, means it cannot be reached now (a server down
    /// or cut off) rather than that it refused the request: a door then answers "try again
    /// later" instead of failing the request for good.
    func isUnreachable(_ error: any Error) -> Bool
}

/// The job queue did not answer: a door's request fails fast with this instead of hanging
/// (HTTP answers 503 with `Retry-After`; the drop folder keeps the file and tries again).
public struct StoreUnavailable: Error, CustomStringConvertible, Sendable {
    public var reason: String
    /// How long a client should wait before it tries again.
    public var retryAfterSeconds: Int

    public init(reason: String, retryAfterSeconds: Int = 5) {
        self.reason = reason
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "the job queue cannot be reached (\(reason)); try again in a few seconds" }
}

/// A change to a job seen by the store: enough to tell whether this host already knows of
/// it, and to read the job if not.
public struct JobChange: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The job moved to another state.
        case state
        /// Another chunk was written.
        case chunk
    }

    public var id: JobID
    public var state: JobState
    public var attempt: Int
    public var chunksDone: Int
    public var kind: Kind

    public init(id: JobID, state: JobState, attempt: Int, chunksDone: Int, kind: Kind) {
        self.id = id
        self.state = state
        self.attempt = attempt
        self.chunksDone = chunksDone
        self.kind = kind
    }

    /// Reads `ID STATE ATTEMPT CHUNKS KIND`, the text a store's notification carries.
    public init?(notification text: String) {
        let fields = text.split(separator: " ").map(String.init)
        guard fields.count == 5, let state = JobState(rawValue: fields[1]), let attempt = Int(fields[2]),
              let chunks = Int(fields[3]), let kind = Kind(rawValue: fields[4])
        else { return nil }
        self.init(id: JobID(fields[0]), state: state, attempt: attempt, chunksDone: chunks, kind: kind)
    }
}

/// What ``JobStore/jobChanges()`` yields.
public enum JobChangeNotice: Sendable, Hashable {
    /// Listening from now on: changes before this moment may have been missed.
    case listening
    case changed(JobChange)
}

extension JobStore {
    public var synchronousReads: (any SynchronousJobReading)? { nil }
    public var isShared: Bool { false }
    public func isUnreachable(_ error: any Error) -> Bool { false }

    /// Extends the lease of every job `host` is running and refreshes its registry entry.
    public func renewLeases(host: String, until: Date, now: Date) async throws {
        _ = try await heartbeat(Heartbeat(host: host, leaseUntil: until, now: now))
    }

    /// A read per job; the stores override it with one.
    public func jobs(_ ids: Set<JobID>) async throws -> [Job] {
        var found: [Job] = []
        for id in ids.sorted(by: { $0.rawValue < $1.rawValue }) {
            if let job = try await job(id) { found.append(job) }
        }
        return found
    }

    /// Two reads; stores override it with one.
    public func jobWithPosition(_ id: JobID, scope: QueueScope) async throws -> (job: Job, queuePosition: Int?)? {
        guard let job = try await job(id) else { return nil }
        return (job, job.state == .queued ? try await queuePosition(of: id, scope: scope) : nil)
    }

    /// Its place in the whole queue.
    public func jobWithPosition(_ id: JobID) async throws -> (job: Job, queuePosition: Int?)? {
        try await jobWithPosition(id, scope: .everyone)
    }

    /// Its place in the whole queue.
    public func queuePosition(of id: JobID) async throws -> Int? {
        try await queuePosition(of: id, scope: .everyone)
    }
}

/// One tenant's use of the pool, as the store knows it.
public struct TenantUsage: Sendable, Hashable {
    /// nil: the host's own jobs (no tenant).
    public var tenant: String?
    /// Slot time of its attempts that ended in the window.
    public var endedSeconds: Double
    /// Slot time so far of its jobs running now.
    public var runningSeconds: Double
    public var queued: Int
    /// Jobs on a slot (generating).
    public var running: Int
    /// Jobs off their slot, their video being finished.
    public var encoding: Int

    public init(
        tenant: String?, endedSeconds: Double = 0, runningSeconds: Double = 0, queued: Int = 0, running: Int = 0, encoding: Int = 0
    ) {
        self.tenant = tenant
        self.endedSeconds = endedSeconds
        self.runningSeconds = runningSeconds
        self.queued = queued
        self.running = running
        self.encoding = encoding
    }

    /// Its slot time in the window, the running jobs' so far included: what a daily quota counts.
    public var gpuSeconds: Double { endedSeconds + runningSeconds }
}

/// A tenant's slot time in attempts that ended in one hour.
public struct TenantHour: Sendable, Hashable {
    /// `""`: the host's own jobs.
    public var tenant: String
    /// Hours since 1970.
    public var hour: Int
    public var seconds: Double

    public init(tenant: String, hour: Int, seconds: Double) {
        self.tenant = tenant
        self.hour = hour
        self.seconds = seconds
    }
}

/// A job to store.
public struct EnqueueRequest: Sendable, Hashable {
    public var id: JobID
    /// Resolved and validated.
    public var spec: JobSpec
    public var maxAttempts: Int
    public var submittedAt: Date
    /// Why it cannot run on any host known at submission, if so.
    public var waitingReason: String?
    /// Frames and chunks the pipeline will deliver, for progress reporting.
    public var chunksTotal: Int?
    /// Who is told of the job's events: the spec's own webhook and the host's.
    public var webhooks: [WebhookSubscription]
    /// The tenant submitting it, if any: its idempotency keys are its own.
    public var tenant: String?
    /// How its pipeline was chosen, for a routed job.
    public var routing: JobRouting?

    public init(
        id: JobID = .random(), spec: JobSpec, maxAttempts: Int, submittedAt: Date,
        waitingReason: String? = nil, chunksTotal: Int? = nil, webhooks: [WebhookSubscription]? = nil, tenant: String? = nil,
        routing: JobRouting? = nil
    ) {
        self.routing = routing
        self.tenant = tenant
        self.webhooks = webhooks ?? spec.webhookSubscriptions
        self.id = id
        self.spec = spec
        self.maxAttempts = maxAttempts
        self.submittedAt = submittedAt
        self.waitingReason = waitingReason
        self.chunksTotal = chunksTotal
    }
}

/// The stored job, and whether this call created it.
public struct EnqueueResult: Sendable, Hashable {
    public var job: Job
    /// false when an earlier job with the same idempotency key was returned.
    public var created: Bool

    public init(job: Job, created: Bool) {
        self.job = job
        self.created = created
    }
}

/// What free slots can run: the best job of `pipelines`, on the slot `slotByPipeline`
/// names for its pipeline (else `gpu`).
public struct ClaimRequest: Sendable, Hashable {
    public var host: String
    /// The slot's name, e.g. `gpu0`, for a pipeline `slotByPipeline` does not name.
    public var gpu: String
    /// Pipelines the free slots can run; jobs of other pipelines are left for other slots.
    public var pipelines: Set<String>
    /// Which free slot a job of each pipeline goes to (one that already holds its model,
    /// say): the choice of slot never changes which job is taken.
    public var slotByPipeline: [String: String]
    /// Pipelines whose jobs another host is better placed to run (it holds their model,
    /// free): taken here only once they have waited in the queue since `deferredBefore`.
    public var deferredPipelines: Set<String>
    public var deferredBefore: Date
    public var now: Date
    public var leaseUntil: Date
    /// Fair share: the tenants with jobs queued, least served first (`""` for the host's own
    /// jobs). Within a priority, the job claimed is the oldest of the first tenant in this
    /// order that has one this claim may take. With fewer than two tenants, queue order alone.
    public var tenantOrder: [String]
    /// Tenants at a limit (their `maxRunning`, their GPU-seconds of the day): none of their
    /// jobs is claimed, whatever the order. Never in ``tenantOrder``.
    public var heldTenants: [String]
    /// The host's free slots as it claims: a shared store keeps the count, less the job
    /// claimed, where it decides which host to wake for the next job.
    public var freeSlots: Int

    public init(
        host: String, gpu: String, pipelines: Set<String>, slotByPipeline: [String: String] = [:],
        deferredPipelines: Set<String> = [], deferredBefore: Date? = nil, now: Date, leaseUntil: Date, tenantOrder: [String] = [],
        heldTenants: [String] = [], freeSlots: Int = 1
    ) {
        self.freeSlots = freeSlots
        self.tenantOrder = tenantOrder
        self.heldTenants = heldTenants
        self.host = host
        self.gpu = gpu
        self.pipelines = pipelines
        self.slotByPipeline = slotByPipeline
        self.deferredPipelines = deferredPipelines
        self.deferredBefore = deferredBefore ?? now
        self.now = now
        self.leaseUntil = leaseUntil
    }
}

/// Which queued job may take a running job's slot (see ``JobStore/preemptionCandidate(_:)``).
public struct PreemptionQuery: Sendable, Hashable {
    /// Pipelines the slots that could be taken can run.
    public var pipelines: Set<String>
    /// Only a job of higher priority than this (the lowest-priority job that could be
    /// preempted) may preempt.
    public var abovePriority: Int
    /// Only a job ready since this moment or before: `--preempt-after` seconds ago.
    public var waitingSince: Date

    public init(pipelines: Set<String>, abovePriority: Int, waitingSince: Date) {
        self.pipelines = pipelines
        self.abovePriority = abovePriority
        self.waitingSince = waitingSince
    }
}

/// Why a claimed job goes back to the queue untouched, and when it may be tried again.
public struct ClaimRelease: Sendable, Hashable {
    public var at: Date
    /// Shown on the job while it waits.
    public var waitingReason: String
    public var notBefore: Date?

    public init(at: Date, waitingReason: String, notBefore: Date? = nil) {
        self.at = at
        self.waitingReason = waitingReason
        self.notBefore = notBefore
    }
}

/// Fields to change on a job; nil fields are left as they are.
public struct JobUpdate: Sendable, Hashable {
    /// The attempt this update comes from; rejected as stale if the job moved on.
    public var attempt: Int?
    public var at: Date
    public var progress: JobProgress?
    public var firstChunkAt: Date?
    public var generatedAt: Date?
    public var encodedAt: Date?
    public var error: String?
    public var clearError: Bool
    public var waitingReason: String?
    public var notBefore: Date?
    public var outputPath: String?
    public var posterPath: String?
    /// Closes the current attempt with this outcome, adding `attemptGPUSeconds` to the job.
    public var endAttempt: Attempt.Outcome?
    public var attemptGPUSeconds: Double?
    /// Whether the attempt waited for a model to load, and for how long: recorded on the
    /// job and, with ``endAttempt``, on the attempt.
    public var load: ModelLoad?
    /// A checkpoint the attempt has kept (its state file durable first).
    public var checkpoint: JobCheckpoint?
    /// Where the attempt started: recorded on the running attempt.
    public var resume: AttemptResume?
    /// Forgets the job's checkpoint: a resume from it came to nothing.
    public var clearCheckpoint: Bool
    /// Spares the job an attempt that had ended already (its generation done) when Spool
    /// itself stopped it afterwards, in its encode tail (a drain, self-fencing): it does not
    /// count against the job's limit. An attempt still running is spared by ``endAttempt``.
    public var spareAttempt: Bool
    /// What the encoder measured of the published video.
    public var quality: VideoQuality?
    /// A routed job moves to another pipeline (with a retry): its spec, routing and chunk count.
    public var reroute: JobReroute?
    /// The pipeline the ending attempt ran on, recorded on it (``endAttempt``): a routed job's
    /// pipeline may change afterwards, and the router judges each pipeline by its own attempts.
    public var attemptPipeline: String?

    public init(
        attempt: Int? = nil, at: Date, progress: JobProgress? = nil, firstChunkAt: Date? = nil,
        generatedAt: Date? = nil, encodedAt: Date? = nil, error: String? = nil, clearError: Bool = false,
        waitingReason: String? = nil, notBefore: Date? = nil, outputPath: String? = nil,
        posterPath: String? = nil, endAttempt: Attempt.Outcome? = nil, attemptGPUSeconds: Double? = nil,
        load: ModelLoad? = nil, checkpoint: JobCheckpoint? = nil, resume: AttemptResume? = nil, clearCheckpoint: Bool = false,
        spareAttempt: Bool = false, quality: VideoQuality? = nil, reroute: JobReroute? = nil, attemptPipeline: String? = nil
    ) {
        self.reroute = reroute
        self.attemptPipeline = attemptPipeline
        self.quality = quality
        self.attempt = attempt
        self.at = at
        self.progress = progress
        self.firstChunkAt = firstChunkAt
        self.generatedAt = generatedAt
        self.encodedAt = encodedAt
        self.error = error
        self.clearError = clearError
        self.waitingReason = waitingReason
        self.notBefore = notBefore
        self.outputPath = outputPath
        self.posterPath = posterPath
        self.endAttempt = endAttempt
        self.attemptGPUSeconds = attemptGPUSeconds
        self.load = load
        self.checkpoint = checkpoint
        self.resume = resume
        self.clearCheckpoint = clearCheckpoint
        self.spareAttempt = spareAttempt
    }
}

/// A routed job's move to the next candidate pipeline.
public struct JobReroute: Sendable, Hashable {
    /// The spec on the new pipeline (its size that pipeline's default unless the job gave one).
    public var spec: JobSpec
    public var routing: JobRouting
    public var chunksTotal: Int

    public init(spec: JobSpec, routing: JobRouting, chunksTotal: Int) {
        self.spec = spec
        self.routing = routing
        self.chunksTotal = chunksTotal
    }
}

/// Where an attempt of a job with a checkpoint started: from the checkpoint's frame, or from
/// frame 0 and why.
public struct AttemptResume: Sendable, Hashable {
    public var fromFrame: Int?
    public var note: String?

    public static func resumed(fromFrame frame: Int) -> AttemptResume { AttemptResume(fromFrame: frame, note: nil) }
    public static func restarted(because note: String) -> AttemptResume { AttemptResume(fromFrame: nil, note: note) }
}

/// What an attempt waited for before its worker could take the job: a model load, or none.
public struct ModelLoad: Sendable, Hashable, Codable {
    /// The attempt had to wait for its worker to load the model (a cold slot, or a model
    /// evicted for another).
    public var coldStart: Bool
    /// Seconds the attempt waited for the load; nil for a warm start.
    public var seconds: Double?

    public init(coldStart: Bool, seconds: Double?) {
        self.coldStart = coldStart
        self.seconds = seconds
    }

    public static let warm = ModelLoad(coldStart: false, seconds: nil)
}

/// A filter and page over jobs.
public struct JobQuery: Sendable, Hashable {
    /// nil: every state.
    public var states: Set<JobState>?
    public var pipeline: String?
    public var limit: Int
    /// The `nextCursor` of the previous page.
    public var cursor: String?
    /// Only jobs after this one, in the page's order (the videos API's `after`).
    public var after: JobID?
    /// Oldest first instead of newest first.
    public var oldestFirst: Bool
    /// Only this tenant's jobs; nil: everyone's.
    public var tenant: String?

    public init(
        states: Set<JobState>? = nil, pipeline: String? = nil, limit: Int = 50, cursor: String? = nil, after: JobID? = nil,
        oldestFirst: Bool = false, tenant: String? = nil
    ) {
        self.tenant = tenant
        self.states = states
        self.pipeline = pipeline
        self.limit = limit
        self.cursor = cursor
        self.after = after
        self.oldestFirst = oldestFirst
    }
}

/// One page of jobs, in the query's order.
public struct JobPage: Sendable, Hashable {
    public var jobs: [Job]
    /// Pass as ``JobQuery/cursor`` for the next page; nil on the last page.
    public var nextCursor: String?

    public init(jobs: [Job], nextCursor: String?) {
        self.jobs = jobs
        self.nextCursor = nextCursor
    }
}

/// Which abandoned jobs to take back.
public struct RecoveryRequest: Sendable, Hashable {
    /// A host starting up: every active job recorded under this name was lost with its
    /// previous run, lease or not.
    public var restartedHost: String?
    /// Also take back any host's active job whose lease ended before `now`.
    public var expiredLeases: Bool
    public var now: Date
    /// Earliest time a requeued job may run again.
    public var retryAfter: Date
    /// Jobs never taken back: those a live host is still running (its reconciler asks to
    /// settle every other job it is recorded as running).
    public var keeping: Set<JobID>
    /// Only jobs claimed before this moment: a claim still on its way to the execution
    /// that will hold it is not an orphan.
    public var startedBefore: Date?
    /// The host taking jobs back could not reach the store itself until then (the store went
    /// away): an attempt whose host last renewed before it may have been as cut off as this
    /// host was, its loss the outage's, so it is not counted against the job's limit.
    public var outageEndedAt: Date?

    public init(
        restartedHost: String?, expiredLeases: Bool, now: Date, retryAfter: Date? = nil, keeping: Set<JobID> = [],
        startedBefore: Date? = nil, outageEndedAt: Date? = nil
    ) {
        self.outageEndedAt = outageEndedAt
        self.restartedHost = restartedHost
        self.expiredLeases = expiredLeases
        self.now = now
        self.retryAfter = retryAfter ?? now
        self.keeping = keeping
        self.startedBefore = startedBefore
    }
}

/// How a store finds the inputs its jobs refer to: the specs that mention an input, read
/// back. One rule for both stores; the query is plain SQL both dialects run.
public enum InputReferences {
    /// The specs that may name an input (a spec without one never has the key).
    public static let query = "SELECT spec FROM jobs WHERE spec LIKE '%\"sha256\"%'"

    /// The hashes `specs` (JSON texts) refer to.
    public static func digests(in specs: [String]) -> Set<String> {
        let decoder = JSONDecoder()
        var digests = Set<String>()
        for text in specs {
            guard let spec = try? decoder.decode(JobSpec.self, from: Data(text.utf8)) else { continue }
            for input in spec.inputs { digests.insert(input.sha256) }
        }
        return digests
    }
}
