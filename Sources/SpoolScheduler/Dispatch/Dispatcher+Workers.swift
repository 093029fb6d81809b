import SpoolSupport
import Foundation
import Logging
import SpoolCore
import SpoolGenerators

/// What an execution may ask of its slot.
struct SlotAccess: Sendable {
    /// Starts the job's worker on the slot: the one way an execution reaches a model. A
    /// resident pipeline's job goes to the slot's worker of that pipeline (started, and its
    /// model loaded, if need be), with what the job waited for the load; any other job gets
    /// a per-job worker of its own, with no load (its start is its slot time).
    let startWorker: @Sendable (GenerationRequest) async throws -> (WorkerRun, ModelLoad?)
    /// Generation is over: the slot takes the next job. A per-job worker's model load
    /// (its `ready`, in seconds) is counted as the slot's loading time.
    let release: @Sendable (_ perJobLoad: Double?) async -> Void
}

/// Resident workers (worker protocol 2): one process per slot that loads its pipeline's
/// model once and serves job after job. The dispatcher starts them when a job needs one (or
/// at start-up, with `--warm`), keeps them while they are used, and stops them when another
/// pipeline needs the slot, when they have been idle for `residentIdleSeconds`, after a
/// pipeline's `maxJobsPerWorker` jobs, or when they die.
extension Dispatcher {
    /// Consecutive deaths before `ready` after which a pipeline's worker is not started again
    /// on a slot for ``loadFailureCooldown``.
    static let loadFailureLimit = 3
    static let loadFailureCooldown: Duration = .seconds(60)

    /// ``SlotAccess/startWorker``, on `slot`.
    func startWorker(on slot: GPUSlot, _ request: GenerationRequest) async throws -> (WorkerRun, ModelLoad?) {
        guard request.pipeline.resident else { return (try context.launcher.start(request), nil) }
        let (worker, load) = try await acquireWorker(on: slot, for: request.pipeline)
        slots.setGenerating(slot.name, true, now: clockSeconds)
        return (try worker.start(request), load)
    }

    func acquireWorker(on slot: GPUSlot, for pipeline: PipelineDefinition) async throws -> (Worker, ModelLoad) {
        let waitStarted = ContinuousClock.now
        let worker: Worker
        var coldStart = false
        if let current = residents[slot.name], current.pipeline.name == pipeline.name, current.isAlive {
            worker = current
            coldStart = !current.isReady
        } else {
            if let failures = loadFailures[slot.name + "/" + pipeline.name], failures.count >= Self.loadFailureLimit,
               ContinuousClock.now - failures.at < Self.loadFailureCooldown {
                var error = failures.last
                error.message = "the worker of pipeline \(pipeline.name) died before it was ready \(failures.count) times in a row on \(slot.name); not started again for a minute. Last time: \(failures.last.message)"
                throw error
            }
            worker = try startResident(on: slot, pipeline: pipeline)
            coldStart = true
        }
        do {
            _ = try await worker.waitUntilReady()
        } catch let error as GenerationError {
            let key = slot.name + "/" + pipeline.name
            let count = (loadFailures[key]?.count ?? 0) + 1
            loadFailures[key] = (count, error, ContinuousClock.now)
            throw error
        }
        loadFailures[slot.name + "/" + pipeline.name] = nil
        return (worker, coldStart ? ModelLoad(coldStart: true, seconds: (ContinuousClock.now - waitStarted).seconds) : .warm)
    }

    /// Starts `pipeline`'s worker on `slot`, stopping whatever worker the slot had.
    @discardableResult
    func startResident(on slot: GPUSlot, pipeline: PipelineDefinition) throws -> Worker {
        if let previous = residents.removeValue(forKey: slot.name) {
            context.logger.info("stopping a resident worker to load another pipeline", metadata: [
                "slot": "\(slot.name)", "pipeline": "\(previous.pipeline.name)", "for": "\(pipeline.name)",
            ])
            previous.stop()
        }
        let folder = "\(configuration.data.work)/slot-\(slot.name)"
        // The slot is loading from before its worker exists, so the slot's loading time is
        // never shorter than the load the worker itself reports.
        slots.setHolding(slot.name, .loading(pipeline.name), now: clockSeconds)
        let worker: Worker
        do {
            worker = try context.launcher.resident(
                pipeline, pipelineFolder: context.pipelines.folders[pipeline.name] ?? ".", slotFolder: folder,
                cudaVisibleDevices: slot.cudaVisibleDevices,
                onExit: { [weak self] worker in
                    guard let self else { return }
                    Task { await self.residentExited(worker, on: slot) }
                })
        } catch {
            slots.setHolding(slot.name, .cold, now: clockSeconds)
            throw error
        }
        residents[slot.name] = worker
        context.statistics.recordModelLoad(slot: slot.name)
        context.logger.info("starting a resident worker", metadata: ["slot": "\(slot.name)", "pipeline": "\(pipeline.name)"])
        Task { [weak self] in
            guard (try? await worker.waitUntilReady()) != nil else { return }
            await self?.residentReady(worker, on: slot)
        }
        return worker
    }

    private func residentReady(_ worker: Worker, on slot: GPUSlot) async {
        guard residents[slot.name] === worker else { return }
        slots.setHolding(slot.name, .ready(worker.pipeline.name), now: clockSeconds)
        wake.signal()
        await advertiseReadyModels()
    }

    private func residentExited(_ worker: Worker, on slot: GPUSlot) {
        guard residents[slot.name] === worker else { return }
        residents[slot.name] = nil
        slots.setHolding(slot.name, .cold, now: clockSeconds)
        context.logger.info("a resident worker exited", metadata: [
            "slot": "\(slot.name)", "pipeline": "\(worker.pipeline.name)", "jobsServed": "\(worker.jobsServed)",
        ])
        wake.signal()
    }

    /// After a job: a worker that served its pipeline's `maxJobsPerWorker` jobs is stopped.
    func retireIfDue(_ slot: GPUSlot) {
        guard let worker = residents[slot.name] else { return }
        slots.served(slot.name, now: clockSeconds)
        if let limit = worker.pipeline.maxJobsPerWorker, worker.jobsServed >= limit {
            context.logger.info("recycling a resident worker", metadata: ["slot": "\(slot.name)", "jobsServed": "\(worker.jobsServed)"])
            stopResident(on: slot)
        } else if !worker.isAlive {
            residents[slot.name] = nil
            slots.setHolding(slot.name, .cold, now: clockSeconds)
        }
    }

    /// Stops workers whose model has waited for a job longer than `residentIdleSeconds`.
    func stopIdleResidents() {
        for slot in slots.idleResidents(since: clockSeconds - configuration.residentIdleSeconds) where residents[slot.name] != nil {
            context.logger.info("stopping an idle resident worker", metadata: ["slot": "\(slot.name)"])
            stopResident(on: slot)
        }
    }

    func stopResident(on slot: GPUSlot) {
        residents.removeValue(forKey: slot.name)?.stop()
        slots.setHolding(slot.name, .cold, now: clockSeconds)
    }

    func stopAllResidents() {
        for slot in configuration.slots where residents[slot.name] != nil { stopResident(on: slot) }
    }

    // MARK: Across hosts

    /// This host's entry in the registry, saying which resident pipelines it holds ready on a free slot.
    func hostRecord(readyPipelines: Set<String>) -> HostRecord {
        HostRecord(
            name: configuration.host, slots: configuration.slots, pipelines: context.pipelines.names, startedAt: startedAt,
            heartbeatAt: context.clock.now(), readyPipelines: readyPipelines.sorted())
    }

    /// Resident pipelines whose model waits on one of this host's free slots.
    var readyHere: Set<String> {
        Set(slots.entries.compactMap { entry in
            if entry.job == nil, case .ready(let pipeline) = entry.holding { pipeline } else { nil }
        })
    }

    /// Tells the registry what this host holds ready, when it changed: another host sharing
    /// the queue then leaves those pipelines' new jobs to this one for a moment.
    func advertiseReadyModels() async {
        let ready = readyHere
        guard ready != advertised else { return }
        advertised = ready
        do {
            try await context.store.registerHost(hostRecord(readyPipelines: ready))
        } catch {
            context.logger.warning("could not tell the registry which models are ready here", metadata: ["error": "\(error)"])
        }
    }

    /// Resident pipelines this host would have to load while another live host holds their
    /// model on a free slot: their jobs are left to that host for `affinityGraceSeconds`.
    func pipelinesBetterRunElsewhere(choices: [String: GPUSlot]) async -> Set<String> {
        let resident = Set(choices.keys.filter { context.pipelines[$0]?.resident == true })
        let cold = resident.filter { pipeline in
            guard let slot = choices[pipeline], let entry = slots.entry(slot.name) else { return true }
            return entry.holding != .ready(pipeline)
        }
        guard !cold.isEmpty else { return [] }
        // Read afresh each time: a claim woken by a submission must see the model another
        // host said was ready a moment before (one small read, only when a load looms).
        let now = context.clock.now()
        let others = ((try? await context.store.hosts()) ?? [])
            .filter { $0.name != configuration.host && $0.isLive(at: now, window: configuration.leaseSeconds) }
        return Set(cold).intersection(others.flatMap(\.readyPipelines))
    }

    /// `--warm`: loads the pipelines named, one cold slot each, before any job asks.
    func warmUp() {
        for name in configuration.warm {
            guard let pipeline = context.pipelines[name], pipeline.resident else {
                context.logger.warning("cannot warm a pipeline that is not resident", metadata: ["pipeline": "\(name)"])
                continue
            }
            guard let slot = slots.entries.first(where: {
                $0.job == nil && $0.holding == .cold && ($0.slot.kind == .cuda || !pipeline.requiresCUDA)
            })?.slot else {
                context.logger.warning("no cold slot left to warm", metadata: ["pipeline": "\(name)"])
                continue
            }
            do {
                try startResident(on: slot, pipeline: pipeline)
            } catch {
                context.logger.error("could not warm a slot", metadata: ["slot": "\(slot.name)", "error": "\(error)"])
            }
        }
    }
}
