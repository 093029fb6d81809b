import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolGenerators
import SpoolMedia

/// Hands queued jobs to free slots and runs them: highest priority first, then oldest;
/// one job per slot, never two; a freed slot takes the next job at once.
///
/// A slot is released the moment generation ends: stitching and encoding go on without
/// it, bounded by ``EncoderLimiter``. On graceful shutdown it claims nothing more, gives
/// running jobs `shutdownGraceSeconds` to finish, then requeues the rest.
public actor Dispatcher: Service {
    private let context: ExecutionContext
    private var configuration: SchedulerConfiguration { context.configuration }
    private let wake = WakeSignal()
    private var free: [GPUSlot]
    private var busySince: [String: ContinuousClock.Instant] = [:]
    private var releasedAt: [String: ContinuousClock.Instant] = [:]
    private var running: [JobID: AttemptControl] = [:]
    /// Which slot generates which job, until the slot is released.
    private var slotOfJob: [JobID: String] = [:]
    private var draining = false

    public init(
        store: any JobStore, pipelines: PipelineCatalog, configuration: SchedulerConfiguration,
        generator: any VideoGenerator, encoders: any VideoEncoderFactory, events: JobEventHub = JobEventHub(),
        statistics: SchedulerStatistics = SchedulerStatistics(), clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "spool.dispatcher")
    ) {
        context = ExecutionContext(
            store: store, pipelines: pipelines, configuration: configuration, generator: generator, encoders: encoders,
            limiter: EncoderLimiter(permits: configuration.encodeConcurrency), events: events, statistics: statistics,
            clock: clock, logger: logger)
        free = configuration.slots
    }

    /// Look for work now, rather than at the next poll.
    public nonisolated func wakeUp() { wake.signal() }

    /// Jobs this host is running (generating or encoding).
    public var runningJobs: [JobID] { Array(running.keys) }

    /// Slots not running a job.
    public var freeSlots: [GPUSlot] { free }

    /// Busy slots, by name, with the job each runs.
    public var busySlots: [String: JobID] {
        var result: [String: JobID] = [:]
        for (id, slot) in slotOfJob { result[slot] = id }
        return result
    }

    public func run() async throws {
        // Workers of a previous run that died with SIGKILL still hold their GPUs: stop them
        // before anything else is started on those GPUs.
        let orphans = OrphanReaper.reap(workFolder: configuration.data.work)
        if !orphans.isEmpty {
            context.logger.warning("killed workers left running by a previous run", metadata: ["processGroups": "\(orphans)"])
        }
        let recovered = try await context.store.recoverLostJobs(RecoveryRequest(
            restartedHost: configuration.host, expiredLeases: true, now: context.clock.now()))
        for job in recovered {
            context.logger.warning("recovered a job lost by a previous run", metadata: ["job": "\(job.id)", "state": "\(job.state)", "reason": "\(job.error ?? "")"])
            context.events.publish(JobEvent(job: job, kind: .state(job.state)))
        }
        let now = context.clock.now()
        try await context.store.registerHost(HostRecord(
            name: configuration.host, slots: configuration.slots,
            pipelines: context.pipelines.names, startedAt: now, heartbeatAt: now))
        context.logger.info("dispatching", metadata: [
            "host": "\(configuration.host)", "slots": "\(configuration.slots.map(\.name).joined(separator: ","))",
        ])
        // Submissions and requeues by other processes sharing the store wake this one at once.
        let notifications = context.store.queueNotifications()
        let listener = Task { [wake] in
            for await _ in notifications { wake.signal() }
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !draining && !Task.isCancelled {
                    for (job, slot, claimedAt) in await claimForFreeSlots() {
                        let execution = startExecution(job: job, slot: slot, claimedAt: claimedAt)
                        group.addTask { await execution.run() }
                    }
                    await wake.wait(seconds: configuration.pollSeconds)
                }
                listener.cancel()
            }
        } onGracefulShutdown: {
            Task { await self.drain() }
        }
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
        let job = try await context.store.update(id, to: .cancelled, JobUpdate(at: context.clock.now(), error: "cancelled"))
        context.events.publish(JobEvent(job: job, kind: .state(.cancelled)))
        running[id]?.stop(.cancelled, message: "the job was cancelled")
        context.logger.info("cancelled", metadata: ["job": "\(id)"])
        return job
    }

    /// Stops local attempts the store no longer gives this host: cancelled by another
    /// process, or taken over by another host after a lease expired.
    public func reconcile() async {
        for (id, control) in running {
            guard let job = try? await context.store.job(id) else { continue }
            if job.state == .cancelled {
                control.stop(.cancelled, message: "the job was cancelled")
            } else if job.host != configuration.host || !job.state.isActive {
                control.stop(.stale, message: "another host took the job over")
            }
        }
    }

    // MARK: Internals

    private func claimForFreeSlots() async -> [(Job, GPUSlot, ContinuousClock.Instant)] {
        var claimed: [(Job, GPUSlot, ContinuousClock.Instant)] = []
        var exhausted = Set<GPUSlot.Kind>()
        for slot in free where !exhausted.contains(slot.kind) && !draining {
            let pipelines = runnablePipelines(on: slot)
            // started_at and the slot's busy time both begin here, so GPU-seconds and the
            // stored generation time measure the same span even when the claim is slow.
            let now = context.clock.now()
            let claimedAt = ContinuousClock.now
            do {
                guard let job = try await context.store.claimNext(ClaimRequest(
                    host: configuration.host, gpu: slot.name, pipelines: pipelines, now: now,
                    leaseUntil: now.addingTimeInterval(configuration.leaseSeconds)))
                else {
                    exhausted.insert(slot.kind)
                    continue
                }
                free.removeAll { $0 == slot }
                busySince[slot.name] = claimedAt
                claimed.append((job, slot, claimedAt))
            } catch {
                context.logger.error("claiming a job failed; retrying at the next poll", metadata: ["error": "\(error)"])
                break
            }
        }
        return claimed
    }

    private func runnablePipelines(on slot: GPUSlot) -> Set<String> {
        Set(context.pipelines.definitions.values.filter { slot.kind == .cuda || !$0.requiresCUDA }.map(\.name))
    }

    private func startExecution(job: Job, slot: GPUSlot, claimedAt: ContinuousClock.Instant) -> JobExecution {
        let control = AttemptControl()
        running[job.id] = control
        slotOfJob[job.id] = slot.name
        context.events.publish(JobEvent(job: job, kind: .state(.running)))
        return JobExecution(
            job: job, slot: slot, claimedAt: claimedAt, slotFreedAt: releasedAt[slot.name], control: control, context: context,
            releaseSlot: { slot in await self.release(slot) },
            finished: { id in await self.finished(id) })
    }

    private func release(_ slot: GPUSlot) {
        let now = ContinuousClock.now
        slotOfJob = slotOfJob.filter { $0.value != slot.name }
        if let since = busySince.removeValue(forKey: slot.name) {
            context.statistics.recordHeld(slot: slot.name, seconds: (now - since).seconds)
        }
        releasedAt[slot.name] = now
        if let position = configuration.slots.firstIndex(of: slot) {
            // Keep slots in configured order, so the first GPUs are preferred.
            let before = configuration.slots[..<position]
            free.insert(slot, at: free.firstIndex { !before.contains($0) } ?? free.endIndex)
        }
        wake.signal()
    }

    private func finished(_ id: JobID) {
        running.removeValue(forKey: id)
    }

    private func drain() async {
        guard !draining else { return }
        draining = true
        wake.signal()
        context.logger.info("shutting down: no new jobs; running ones have \(Int(configuration.shutdownGraceSeconds)) s to finish",
                            metadata: ["running": "\(running.count)"])
        try? await Task.sleep(for: .seconds(configuration.shutdownGraceSeconds))
        for control in running.values {
            control.stop(.interrupted, message: "the host is shutting down")
        }
    }
}
