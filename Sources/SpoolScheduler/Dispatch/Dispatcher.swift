import Foundation
import Logging
import ServiceLifecycle
import SpoolSupport
import SpoolCore
import SpoolGenerators
import SpoolMedia

/// Hands queued jobs to free slots and runs them: highest priority first, then oldest;
/// one job per slot, never two; a freed slot takes the next job at once.
///
/// A slot is released the moment generation ends: stitching and encoding go on without
/// it, bounded by ``EncoderLimiter``. On graceful shutdown it claims nothing more, gives
/// running jobs `shutdownGraceSeconds` to finish, then requeues the rest.
///
/// Slots remember the model their resident worker holds (see `Dispatcher+Residents.swift`):
/// the job the queue gives next goes to a slot already holding its pipeline when one is
/// free, else to a cold one, else to the one whose model was used least recently.
public actor Dispatcher: Service {
    let context: ExecutionContext
    var configuration: SchedulerConfiguration { context.configuration }
    let wake = WakeSignal()
    /// Which job each slot runs, what model it holds, and where its time went.
    var slots: SlotTable
    /// The dispatcher's own clock for slot accounting: seconds since it was made.
    let epoch = ContinuousClock.now
    var busySince: [String: ContinuousClock.Instant] = [:]
    var releasedAt: [String: ContinuousClock.Instant] = [:]
    /// Every attempt this host runs, in any stage (generating, or encoding off its slot),
    /// from its claim until its execution ends. Keyed by attempt, not by job: a host may run
    /// a job's new attempt while the attempt the store took from it is still stopping, and
    /// the end of the old one must not unregister the new one (issue 27).
    var running: [AttemptKey: AttemptControl] = [:]
    /// When each running attempt was claimed, on ``clockSeconds``.
    var claimTimes: [AttemptKey: Double] = [:]
    /// Until when each running attempt's claim leased its job (before any renewal).
    var claimLeases: [AttemptKey: Date] = [:]
    /// When a busy host next asks the store for a job to preempt for.
    var nextPreemptionCheck = 0.0
    /// The resident worker of each slot that has one.
    var residents: [String: Worker] = [:]
    /// Workers of a pipeline that died before they were ready, in a row, per slot: past a
    /// few, the next job fails at once with the last one's error instead of starting another.
    var loadFailures: [String: (count: Int, last: GenerationError, at: ContinuousClock.Instant)] = [:]
    var draining = false
    /// Resident pipelines this host last told the registry it holds on a free slot.
    var advertised: Set<String> = []
    var startedAt = Date()
    /// Claims sent to the store whose job is not yet in ``running``: while any is, the
    /// reconciler cannot tell a job it is about to run from an orphan.
    private var claimsInFlight = 0
    /// Why the last job claimed could not start for lack of disk space; nil once one could.
    private var spaceShortage: String?
    /// The last claim failed (the store did not answer): the next poll claims again.
    private var claimFailed = false
    /// The order of tenants each claim follows within a priority, and those it leaves out.
    public nonisolated let claimPolicy: ClaimPolicy

    public init(
        store: any JobStore, pipelines: PipelineCatalog, configuration: SchedulerConfiguration,
        launcher: WorkerLauncher = WorkerLauncher(), encoders: any VideoEncoderFactory, inputs: InputLibrary? = nil,
        events: JobEventHub = JobEventHub(), statistics: SchedulerStatistics = SchedulerStatistics(),
        clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "spool.dispatcher"), work: AttemptWork = .pipelines
    ) {
        context = ExecutionContext(
            store: store, pipelines: pipelines, configuration: configuration, launcher: launcher, encoders: encoders,
            inputs: inputs ?? InputLibrary(folder: configuration.data.inputs, limits: configuration.inputLimits),
            limiter: EncoderLimiter(permits: configuration.encodeConcurrency), events: events, statistics: statistics,
            clock: clock, logger: logger,
            outcomes: OutcomeLedger(writes: JobWrites(store: store, events: events), statistics: statistics, logger: logger),
            work: work)
        slots = SlotTable(slots: configuration.slots, now: 0)
        claimPolicy = ClaimPolicy(halfLife: configuration.fairShareHalfLifeSeconds)
    }

    /// Seconds since the dispatcher was made: the clock of slot accounting.
    var clockSeconds: Double { (ContinuousClock.now - epoch).seconds }

    /// Look for work now, rather than at the next poll.
    public nonisolated func wakeUp() {
        // New jobs may mean a new tenant in the queue: the policy is read again.
        claimPolicy.changed()
        wake.signal()
    }

    /// Jobs this host is running (generating or encoding).
    public var runningJobs: [JobID] { Array(Set(running.keys.map(\.job))) }

    /// The newest attempt of `job` this host runs: the one on its slot, if it still has one.
    func newestAttempt(of job: JobID) -> (key: AttemptKey, control: AttemptControl)? {
        running.filter { $0.key.job == job }.max { $0.key.attempt < $1.key.attempt }.map { ($0.key, $0.value) }
    }

    /// Slots not running a job.
    public var freeSlots: [GPUSlot] { slots.free }

    /// Whether a graceful shutdown has begun: nothing more is claimed.
    public var isDraining: Bool { draining }

    /// Why jobs wait for disk space on this host, if they do.
    public var diskSpaceShortage: String? { spaceShortage }

    /// Busy slots, by name, with the job each runs.
    public var busySlots: [String: JobID] {
        var result: [String: JobID] = [:]
        for entry in slots.entries { if let job = entry.job { result[entry.slot.name] = job } }
        return result
    }

    public func run() async throws {
        // Workers of a previous run that died with SIGKILL still hold their GPUs: stop them
        // before anything else is started on those GPUs.
        let orphans = OrphanReaper.reap(workFolder: configuration.data.work)
        if !orphans.isEmpty {
            context.logger.warning("killed workers left running by a previous run", metadata: ["processGroups": "\(orphans)"])
        }
        let recovered = try await context.writes.recoverLostJobs(RecoveryRequest(
            restartedHost: configuration.host, expiredLeases: true, now: context.clock.now()))
        for job in recovered {
            context.logger.warning("recovered a job lost by a previous run", metadata: ["job": "\(job.id)", "state": "\(job.state)", "reason": "\(job.error ?? "")"])
        }
        startedAt = context.clock.now()
        try await context.store.registerHost(hostRecord(readyPipelines: []))
        context.logger.info("dispatching", metadata: [
            "host": "\(configuration.host)", "slots": "\(configuration.slots.map(\.name).joined(separator: ","))",
        ])
        warmUp()
        // Submissions and requeues by other processes sharing the store wake this one at once,
        // when the store sends them here.
        let notifications = context.store.queueNotifications(for: configuration.host)
        let listener = Task { [wake, claimPolicy] in
            for await _ in notifications {
                claimPolicy.changed()
                wake.signal()
            }
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                // A host of a shared store claims only when something says there may be a job
                // for it: a wake-up the store sent here, a local submission, a freed slot, its
                // heartbeat (a due job waits), or a claim that failed. Its timer does the rest
                // of the loop's work without asking the store for a job: a fleet of idle hosts
                // polling every 0.25 s made 4 claims a second each, all but one empty (issue
                // 33). The store of one host (SQLite) cannot send wake-ups across processes,
                // and a local poll costs nothing to anyone else: it polls.
                var look = true
                while !draining && !Task.isCancelled {
                    if look || !context.store.isShared {
                        for execution in await claimForFreeSlots() {
                            group.addTask { await execution.run() }
                        }
                    }
                    await preemptIfDue()
                    stopIdleResidents()
                    await advertiseReadyModels()
                    look = await wake.wait(seconds: configuration.pollSeconds) || claimFailed
                    claimFailed = false
                }
                listener.cancel()
            }
        } onGracefulShutdown: {
            Task { await self.drain() }
        }
        stopAllResidents()
        // Outcomes the store refused so far: one more try before the host leaves.
        await context.outcomes.flush()
        do {
            try await context.store.deregisterHost(configuration.host)
        } catch {
            context.logger.warning("could not leave the host registry", metadata: ["error": "\(error)"])
        }
        context.logger.info("dispatcher stopped")
    }

    /// Cancels a job wherever it is: the cancellation is stored first, then a local worker
    /// is stopped (its process group killed) and its slot freed.
    @discardableResult
    public func cancel(_ id: JobID) async throws -> Job {
        let job = try await context.writes.update(id, to: .cancelled, JobUpdate(at: context.clock.now(), error: "cancelled"))
        for (key, control) in running where key.job == id { control.stop(.cancelled, message: "the job was cancelled") }
        context.logger.info("cancelled", metadata: ["job": "\(id)"])
        return job
    }

    /// Writes the outcomes the store refused earlier, if it now accepts them.
    public func flushOutcomes() async {
        await context.outcomes.flush()
    }

    /// Jobs whose outcome is kept until the store accepts it.
    public var pendingOutcomes: Set<JobID> {
        get async { await context.outcomes.pendingJobs }
    }

    /// This host as its next heartbeat tells the store (see ``Heartbeat``), and the attempts
    /// whose standing it asks for: those registered now. One claimed while the store answers
    /// is newer than what the answer says, and is left for the next heartbeat.
    func heartbeat(leaseUntil: Date, now: Date) async -> (beat: Heartbeat, asked: [AttemptKey]) {
        let asked = Array(running.keys)
        var newest: [JobID: Int] = [:]
        for key in asked { newest[key.job] = max(newest[key.job] ?? 0, key.attempt) }
        let free = draining ? [:] : slots.choices(for: Array(context.pipelines.definitions.values))
        let beat = Heartbeat(
            host: configuration.host, leaseUntil: leaseUntil, now: now, running: newest,
            keeping: Set(newest.keys).union(await context.outcomes.pendingJobs), freeSlots: draining ? 0 : slots.free.count,
            idlePipelines: Set(free.keys), readyPipelines: readyHere, waitingSince: now.addingTimeInterval(-configuration.heartbeatSeconds))
        return (beat, asked)
    }

    /// Settles jobs the store says this host is running but no execution here holds (their
    /// outcome was lost, or their execution ended without one): requeued or failed by the
    /// rules of recovery, within a heartbeat, not at the next restart. Jobs whose outcome is
    /// kept by the ledger are left for it to write. Asked by a heartbeat whose report found
    /// such a job.
    public func settleOrphans() async {
        // A claim on its way to its execution is not an orphan: look only when none is, and
        // only at jobs claimed before now.
        guard claimsInFlight == 0, !draining else { return }
        let now = context.clock.now()
        let keeping = Set(running.keys.map(\.job)).union(await context.outcomes.pendingJobs)
        do {
            let settled = try await context.writes.recoverLostJobs(RecoveryRequest(
                restartedHost: configuration.host, expiredLeases: false, now: now,
                retryAfter: now.addingTimeInterval(configuration.retry.baseDelay), keeping: keeping, startedBefore: now))
            for job in settled {
                context.logger.error("settled a job no execution held", metadata: [
                    "job": "\(job.id)", "state": "\(job.state)", "reason": "\(job.error ?? "")",
                ])
            }
            context.statistics.recordOrphansSettled(settled.count)
            if !settled.isEmpty { wake.signal() }
        } catch {
            context.logger.warning("could not look for orphaned jobs", metadata: ["error": "\(error)"])
        }
    }

    /// Stops every local attempt whose lease has run out unrenewed by `now`: the later of
    /// the host's last renewal (`renewedUntil`) and the lease its claim was given. Another
    /// host may take such a job at any moment, and two attempts must never both publish.
    public func fence(reason: String, renewedUntil: Date, now: Date) {
        for (key, control) in running where control.reason == nil && now >= max(renewedUntil, claimLeases[key] ?? renewedUntil) {
            control.stop(.fenced, message: reason)
            context.logger.warning("stopped an attempt whose lease ran out", metadata: ["job": "\(key.job)", "attempt": "\(key.attempt)", "reason": "\(reason)"])
        }
    }

    /// Stops local attempts the store no longer gives this host: cancelled by another
    /// process, or taken over (by another host, or by a newer attempt) after a lease expired.
    /// `standings` come with the heartbeat's report, which asked for `asked` (issue 33: no
    /// read of its own).
    func reconcile(_ standings: [JobID: JobStanding], asked: [AttemptKey]) {
        for key in asked {
            guard let control = running[key], let standing = standings[key.job] else { continue }
            switch standing.stop(attempt: key.attempt, on: configuration.host) {
            case nil: break
            case .cancelled: control.stop(.cancelled, message: "the job was cancelled")
            case .taken(let message): control.stop(.stale, message: message)
            }
        }
    }

    // MARK: Internals

    /// Claims a job for every free slot that can run one, and returns their executions,
    /// each registered in ``running`` the moment its claim returns. Each claim takes the
    /// best job of every pipeline a free slot can run; its pipeline then decides which free
    /// slot it goes to (``SlotTable/choices(for:)``), never which job.
    private func claimForFreeSlots() async -> [JobExecution] {
        var started: [JobExecution] = []
        var spaceRefused = 0
        while !draining, !slots.free.isEmpty, spaceRefused < slots.free.count {
            let choices = slots.choices(for: Array(context.pipelines.definitions.values))
            guard let fallback = choices.values.first else { break }
            let deferred = await pipelinesBetterRunElsewhere(choices: choices)
            // started_at and the slot's busy time both begin here, so GPU-seconds and the
            // stored generation time measure the same span even when the claim is slow.
            let now = context.clock.now()
            let claimedAt = ContinuousClock.now
            claimsInFlight += 1
            defer { claimsInFlight -= 1 }
            let job: Job
            let tenants = await claimPolicy.tenants(store: context.store, now: now)
            do {
                guard let claimed = try await context.writes.claimNext(ClaimRequest(
                    host: configuration.host, gpu: fallback.name, pipelines: Set(choices.keys),
                    slotByPipeline: choices.mapValues(\.name), deferredPipelines: deferred,
                    deferredBefore: now.addingTimeInterval(-configuration.affinityGraceSeconds), now: now,
                    leaseUntil: now.addingTimeInterval(configuration.leaseSeconds), tenantOrder: tenants.order,
                    heldTenants: tenants.held, freeSlots: slots.free.count))
                else {
                    context.statistics.recordClaim(found: false)
                    break
                }
                context.statistics.recordClaim(found: true)
                job = claimed
                claimPolicy.changed()
            } catch {
                context.logger.error("claiming a job failed; retrying at the next poll", metadata: ["error": "\(error)"])
                claimFailed = true
                break
            }
            let slot = choices[job.pipeline] ?? fallback
            if let pipeline = context.pipelines[job.pipeline], let shortage = DiskSpace(configuration: configuration).shortage(for: job, pipeline: pipeline) {
                await handBack(job, reason: shortage)
                spaceRefused += 1
                continue
            }
            spaceShortage = nil
            slots.assign(job.id, to: slot.name, now: clockSeconds)
            busySince[slot.name] = claimedAt
            started.append(startExecution(job: job, slot: slot, claimedAt: claimedAt))
        }
        return started
    }

    /// Puts a claimed job back, untouched, to wait for disk space; it is tried again after
    /// `spaceRecheckSeconds`, here or on any host with room.
    private func handBack(_ job: Job, reason: String) async {
        if spaceShortage != reason {
            context.logger.warning("a job waits for disk space", metadata: ["job": "\(job.id)", "reason": "\(reason)"])
        }
        spaceShortage = reason
        let now = context.clock.now()
        do {
            try await context.writes.releaseClaim(job.id, attempt: job.attempts, ClaimRelease(
                at: now, waitingReason: reason, notBefore: now.addingTimeInterval(configuration.spaceRecheckSeconds)))
        } catch {
            // Left running with no execution: the reconciler settles it at the next heartbeat.
            context.logger.error("could not hand back a job waiting for disk space", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    private func startExecution(job: Job, slot: GPUSlot, claimedAt: ContinuousClock.Instant) -> JobExecution {
        let control = AttemptControl(priority: job.spec.priority, pipeline: job.pipeline)
        let key = AttemptKey(job: job.id, attempt: job.attempts)
        running[key] = control
        claimTimes[key] = clockSeconds
        claimLeases[key] = job.leaseExpiresAt
        return JobExecution(
            job: job, slot: slot, claimedAt: claimedAt, slotFreedAt: releasedAt[slot.name], control: control, context: context,
            slotAccess: SlotAccess(
                startWorker: { request in try await self.startWorker(on: slot, request) },
                release: { load in await self.release(slot, perJobLoad: load) }),
            finished: { await self.finished(key) })
    }

    private func release(_ slot: GPUSlot, perJobLoad: Double?) {
        let now = ContinuousClock.now
        slots.release(slot.name, now: clockSeconds)
        if let perJobLoad {
            slots.reclassifyLoad(slot.name, seconds: perJobLoad, now: clockSeconds)
            context.statistics.recordModelLoad(slot: slot.name)
        }
        if let since = busySince.removeValue(forKey: slot.name) {
            context.statistics.recordHeld(slot: slot.name, seconds: (now - since).seconds)
        }
        releasedAt[slot.name] = now
        retireIfDue(slot)
        // A tenant at its maxRunning may have room now.
        claimPolicy.changed()
        wake.signal()
    }

    private func finished(_ key: AttemptKey) {
        running.removeValue(forKey: key)
        claimTimes.removeValue(forKey: key)
        claimLeases.removeValue(forKey: key)
    }

    private func drain() async {
        guard !draining else { return }
        draining = true
        wake.signal()
        context.logger.info("shutting down: no new jobs; running ones have \(Int(configuration.shutdownGraceSeconds)) s to finish, or go back to the queue at their next checkpoint",
                            metadata: ["running": "\(running.count)"])
        for control in running.values { control.stopAtNextCheckpoint() }
        try? await Task.sleep(for: .seconds(configuration.shutdownGraceSeconds))
        for control in running.values {
            control.stop(.interrupted, message: "the host is shutting down")
        }
    }
}

/// One attempt at one job: what the dispatcher registers a running execution under.
struct AttemptKey: Hashable, Sendable {
    var job: JobID
    var attempt: Int
}
