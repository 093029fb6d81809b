import Foundation
import SpoolSupport
import SpoolCore
import SpoolMedia

/// What a door does with a job, whatever the door (HTTP's jobs and videos APIs, the drop
/// folder, the CLI through HTTP): the one layer between a request and the host. A door
/// turns its request into these calls and their answers (and errors) into its own shape;
/// the plumbing (inputs taken on a thread of their own, the store, the dispatcher, the
/// files a job leaves) is here, once.
public struct JobOperations: Sendable {
    public let store: any JobStore
    public let submitter: JobSubmitter
    public let dispatcher: Dispatcher
    public let data: DataDirectory
    /// Whom the calls are made for: the host itself unless a door says otherwise
    /// (``acting(for:)``).
    public private(set) var principal: Principal = .host

    public init(store: any JobStore, submitter: JobSubmitter, dispatcher: Dispatcher, data: DataDirectory) {
        self.store = store
        self.submitter = submitter
        self.dispatcher = dispatcher
        self.data = data
    }

    /// The same operations for `principal`: a user sees, watches, downloads, cancels and
    /// deletes only its own tenant's jobs (another's is ``SpoolError/jobNotFound(_:)``), lists
    /// only them, and submits within its limits, its jobs recorded as its tenant's.
    public func acting(for principal: Principal) -> JobOperations {
        var scoped = self
        scoped.principal = principal
        return scoped
    }

    /// Jobs' images and clips.
    public var inputs: InputLibrary { submitter.inputs }

    /// A file a door brings with a job: an image to start from or a clip to continue.
    public struct File: Sendable {
        public enum Source: Sendable {
            /// Streamed to the input library's staging area as it arrived (an HTTP upload).
            case upload(InputUpload)
            /// A file already on this machine (the drop folder's), read where it is.
            case path(String)
        }

        public var kind: JobInput.Kind
        /// The field a problem with it is reported under (`image`, `input_reference`).
        public var field: String
        /// The name it came with, if any (`fox.png`).
        public var name: String?
        public var source: Source

        public init(kind: JobInput.Kind, field: String, name: String? = nil, source: Source) {
            self.kind = kind
            self.field = field
            self.name = name
            self.source = source
        }

        /// Gives up an upload that will not be taken.
        public func abandon() {
            if case .upload(let upload) = source { upload.abandon() }
        }
    }

    // MARK: Submitting

    /// Takes `files` into the input library, each decoded in full on a thread of its own, and
    /// names them in `spec`. Returns the spec and a problem for each file that could not be
    /// taken (named by its field); the spec's own inputs of the same kind are problems too.
    public func take(_ files: [File], into spec: JobSpec) async -> (spec: JobSpec, issues: [ValidationIssue]) {
        var spec = spec
        var issues: [ValidationIssue] = []
        let library = inputs
        for file in files {
            if (file.kind == .image ? spec.image : spec.video) != nil {
                file.abandon()
                issues.append(ValidationIssue(field: file.kind.rawValue, reason: "given both as a part and in the job; send it once"))
                continue
            }
            do {
                let input = try await onOwnThread("spool-ingest") {
                    switch file.source {
                    case .upload(let upload): try library.ingest(upload)
                    case .path(let path): try library.ingest(fileAt: path, kind: file.kind, name: file.name)
                    }
                }
                if file.kind == .image { spec.image = input } else { spec.video = input }
            } catch let error as InputError {
                let name = if case .path = file.source, let name = file.name { "\(name) " } else { "" }
                issues.append(ValidationIssue(field: file.field, reason: name + error.message))
            } catch {
                issues.append(ValidationIssue(field: file.field, reason: "\(file.name ?? file.field) cannot be read: \(error)"))
            }
        }
        return (spec, issues)
    }

    /// Takes the job's files and submits it; a repeated idempotency key returns the first job.
    /// - Throws: ``SpoolError/invalidSpec(_:)`` naming every problem, its files' included.
    /// - Throws: ``QuotaExceeded`` past the tenant's `maxQueued`, or past its `gpuSecondsPerDay`
    ///   under `--over-quota refuse`, before its files are taken.
    public func submit(_ spec: JobSpec, files: [File] = []) async throws -> EnqueueResult {
        var spec = spec
        do {
            try await checkQuotas()
        } catch {
            for file in files { file.abandon() }
            throw error
        }
        if let most = principal.limits.maxGpuSecondsPerJob {
            spec.timeLimitSeconds = min(spec.timeLimitSeconds ?? most, most)
        }
        let (taken, issues) = await take(files, into: spec)
        guard issues.isEmpty else { throw SpoolError.invalidSpec(issues) }
        let submitter = submitter
        let tenant = principal.tenant
        return try await reach("submitting the job") { try await submitter.submit(taken, tenant: tenant) }
    }

    /// Refuses a submission past the principal's `maxQueued`, or past its `gpuSecondsPerDay`
    /// when the host refuses rather than queues (`--over-quota refuse`).
    private func checkQuotas() async throws {
        guard let tenant = principal.tenant else { return }
        let store = store
        if let maxQueued = principal.limits.maxQueued {
            let queued = try await reach("counting the tenant's jobs") { try await store.count(JobQuery(states: [.queued], tenant: tenant)) }
            if queued >= maxQueued {
                throw QuotaExceeded(
                    "tenant \(tenant) has \(queued) jobs queued, its limit (maxQueued \(maxQueued)); submit again once some have started",
                    retryAfterSeconds: 10)
            }
        }
        if principal.limits.gpuSecondsPerDay != nil, dispatcher.context.configuration.overQuota == .refuse {
            let now = clock.now()
            let since = now.addingTimeInterval(-TenantLimits.quotaWindow)
            let (usage, hours) = try await reach("reading the tenant's usage") {
                (try await store.tenantUsage(since: since, now: now), try await store.hourlyUsage(since: since.addingTimeInterval(-3_600)))
            }
            let mine = usage.first { $0.tenant == tenant } ?? TenantUsage(tenant: tenant)
            var limits = principal.limits
            limits.maxRunning = nil
            if let hold = limits.hold(mine, hours: hours.filter { $0.tenant == tenant }, now: now) {
                let wait = hold.until.map { Int($0.timeIntervalSince(now).rounded(.up)) } ?? 600
                throw QuotaExceeded(hold.reason, retryAfterSeconds: max(1, wait))
            }
        }
    }

    /// The spec's problems, without submitting it.
    public func validate(_ spec: JobSpec) -> [ValidationIssue] {
        submitter.validate(spec)
    }

    // MARK: Reading

    /// - Throws: ``SpoolError/jobNotFound(_:)``.
    public func job(_ id: JobID) async throws -> Job {
        guard let job = try await reach("reading the job", { try await store.job(id) }), principal.maySee(job) else {
            throw SpoolError.jobNotFound(id)
        }
        return explained(job)
    }

    /// `job`, its wait explained by its tenant's limit while it is queued behind one.
    private func explained(_ job: Job) -> Job {
        guard job.state == .queued, let reason = dispatcher.claimPolicy.holdReason(for: job.tenant, now: clock.now()) else { return job }
        var job = job
        job.waitingReason = reason
        return job
    }

    private var clock: any WallClock { dispatcher.context.clock }

    /// Throws ``SpoolError/jobNotFound(_:)`` unless the principal may see the job (one read,
    /// and none for an admin).
    func checkVisible(_ id: JobID) async throws {
        if !principal.seesEveryone { _ = try await job(id) }
    }

    /// A job and its place in the queue while it waits (see ``queueScope``).
    /// - Throws: ``SpoolError/jobNotFound(_:)``.
    public func jobWithPosition(_ id: JobID) async throws -> (job: Job, queuePosition: Int?) {
        let scope = queueScope
        guard let found = try await reach("reading the job", { try await store.jobWithPosition(id, scope: scope) }), principal.maySee(found.job)
        else { throw SpoolError.jobNotFound(id) }
        return (explained(found.job), found.queuePosition)
    }

    /// ``jobWithPosition(_:)`` without suspending, from a store that reads a local file (the
    /// HTTP poll answered in the channel pipeline): the same rule. nil: no job this principal
    /// may see, or the store failed (the caller's slower path says which).
    public func jobWithPositionNow(_ id: JobID, from reader: any SynchronousJobReading) -> (job: Job, queuePosition: Int?)? {
        guard let found = try? reader.jobWithPositionNow(id, scope: queueScope), principal.maySee(found.job) else { return nil }
        return (explained(found.job), found.queuePosition)
    }

    /// Whose jobs a position counts: a principal that sees only its own tenant's jobs is told
    /// its place among them, so the other tenants' queue does not show through (the size of
    /// the whole queue is in ``usage(window:)``'s total).
    var queueScope: QueueScope { principal.seesEveryone ? .everyone : .sameTenant }

    /// A page of jobs, each queued one with its place in the queue.
    public func list(_ query: JobQuery) async throws -> (jobs: [(job: Job, queuePosition: Int?)], nextCursor: String?) {
        var scoped = query
        if !principal.seesEveryone { scoped.tenant = principal.tenant ?? "" }
        let query = scoped
        let store = store
        let scope = queueScope
        let page = try await reach("listing jobs") {
            let page = try await store.list(query)
            var jobs: [(Job, Int?)] = []
            for job in page.jobs {
                jobs.append((job, job.state == .queued ? try await store.queuePosition(of: job.id, scope: scope) : nil))
            }
            return (jobs, page.nextCursor)
        }
        return (page.0.map { (explained($0.0), $0.1) }, page.1)
    }

    public func queuePosition(of id: JobID) async throws -> Int? {
        let scope = queueScope
        return try await reach("reading the queue") { try await store.queuePosition(of: id, scope: scope) }
    }

    public func attempts(of id: JobID) async throws -> [Attempt] {
        try await checkVisible(id)
        return try await reach("reading the job's attempts") { try await store.attempts(of: id) }
    }

    public func webhookDeliveries(of id: JobID) async throws -> [WebhookDelivery] {
        try await checkVisible(id)
        return try await reach("reading the job's webhooks") { try await store.webhookDeliveries(of: id) }
    }

    /// The tenants' use of the pool over the last `window` seconds: every tenant's for an
    /// admin, a user's own alone (an entry of zeros when it has none).
    /// Each with why its jobs wait, when a limit holds them; and how many jobs are queued in
    /// the pool, every tenant's (a number only: a user's positions count its own jobs).
    public func usage(window: Double = TenantLimits.quotaWindow) async throws -> (
        since: Date, tenants: [(usage: TenantUsage, held: String?)], queuedInPool: Int
    ) {
        let store = store
        let now = clock.now()
        let since = now.addingTimeInterval(-window)
        let all = try await reach("reading the tenants' usage") { try await store.tenantUsage(since: since, now: now) }
        let visible = principal.seesEveryone ? all : [all.first { $0.tenant == principal.tenant } ?? TenantUsage(tenant: principal.tenant)]
        return (
            since, visible.map { ($0, $0.queued > 0 ? dispatcher.claimPolicy.holdReason(for: $0.tenant, now: now) : nil) },
            all.reduce(0) { $0 + $1.queued })
    }

    /// How many jobs are in each state.
    public func countsByState() async throws -> [JobState: Int] {
        try await reach("counting jobs") { try await store.countsByState() }
    }

    // MARK: Ending

    /// Cancels a job wherever it runs (see ``Dispatcher/cancel(_:)``).
    /// - Throws: ``SpoolError/illegalTransition(job:from:to:)`` for a job already finished.
    @discardableResult
    public func cancel(_ id: JobID) async throws -> Job {
        try await checkVisible(id)
        let dispatcher = dispatcher
        return try await reach("cancelling the job") { try await dispatcher.cancel(id) }
    }

    /// Removes a finished job: its record, attempts and webhook deliveries, then its files (the
    /// video, its poster, what is left of its live preview).
    /// - Throws: ``SpoolError/illegalTransition(job:from:to:)`` for a job not finished, or still
    ///   stopping; ``SpoolError/jobNotFound(_:)``.
    @discardableResult
    public func delete(_ id: JobID) async throws -> Job {
        try await checkVisible(id)
        guard let deleted = try await reach("deleting the job", { try await store.delete(id) }) else { throw SpoolError.jobNotFound(id) }
        // On a thread of its own: unlinking a large video holds its thread (11–35 ms for a
        // 90 MB file on this kernel), and a door's task runs on an event loop.
        let paths = [deleted.outputPath, deleted.posterPath, data.live(id)].compactMap { $0 }
        try? await onOwnThread("spool-delete") {
            for path in paths { try? FileManager.default.removeItem(atPath: path) }
        }
        return deleted
    }

    // MARK: Reaching the store

    /// How long a door waits for a shared store before it answers "unavailable": a request
    /// never hangs on a database that went away (issue 27: a submission waited more than 20 s).
    public static let storeDeadlineSeconds = 5.0

    /// Runs `call` on the store. On a shared store, a call that has no answer within
    /// ``storeDeadlineSeconds``, or that fails because the store cannot be reached, throws
    /// ``StoreUnavailable``; a store of one host (SQLite) keeps its own errors and timing.
    func reach<T: Sendable>(_ what: String, _ call: @escaping @Sendable () async throws -> T) async throws -> T {
        guard store.isShared else { return try await call() }
        do {
            return try await withDeadline(seconds: Self.storeDeadlineSeconds, call)
        } catch let error as DeadlinePassed {
            throw StoreUnavailable(reason: "\(what): \(error)")
        } catch let error where store.isUnreachable(error) {
            throw StoreUnavailable(reason: "\(what): \(error)")
        }
    }
}
