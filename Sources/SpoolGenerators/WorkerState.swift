import Foundation
import SpoolCore

/// What a worker process is doing, and what each thing it says or does means: a plain
/// value, so the rules of both worker protocols can be read (and tested) apart from the
/// process, pipes and clock that ``Worker`` drives around them.
///
/// A resident worker (protocol 2) loads once and serves job after job:
/// ```
/// loading --ready--> ready --job--> serving --done/failed--> ready
///                                      |  --cancel--> cancelling --cancelled--> ready
/// ```
/// A per-job worker (protocol 1) is the same machine with one job, given when the process
/// starts: it begins `serving`, and after `done` it is `finishing` until it exits, which a
/// clean exit (status 0) makes a success.
/// ```
/// serving --done--> finishing --exit 0--> exited
/// ```
/// For both: `any --exit--> exited`; `any --violation/timeout--> killing --exit--> exited`;
/// a worker still alive `terminationGrace` seconds after it was told to end is killed.
struct WorkerState: Sendable {
    enum Mode: Sendable, Equatable {
        /// Protocol 1: one process per job, started with the job's request.
        case perJob
        /// Protocol 2: one process per slot, a request line per job.
        case resident
    }

    /// The job in flight.
    struct Run: Sendable {
        var jobID: String
        var workDir: String
        var size: FrameSize
        /// The sound each chunk must carry, and the frame rate its length is measured by.
        var audio: AudioFormat?
        var fps = 24
        var timeLimit: Double?
        var startedAt: Double
        /// When the job last said anything, for the stall timeout; nil until a per-job
        /// worker's first line (its start-up timeout applies until then). Reset on resume.
        var lastEvent: Double?
        var chunksSeen: Set<Int> = []
        var lastChunk: Int?
        /// A resumed job's checkpoint: chunks up to it were made by an earlier attempt.
        var resumedAfter: Int?
        /// The chunk the latest checkpoint followed.
        var lastCheckpoint: Int?
        var paused = false
        /// The longest the worker has been silent while paused: how a caller knows the
        /// stall watchdog has seen a paused worker and let it be.
        var pausedSilence = 0.0

        init(jobID: String, workDir: String, size: FrameSize, timeLimit: Double?, startedAt: Double, lastEvent: Double?) {
            self.jobID = jobID
            self.workDir = workDir
            self.size = size
            self.timeLimit = timeLimit
            self.startedAt = startedAt
            self.lastEvent = lastEvent
        }

        /// The run of `request`, started at `startedAt`.
        init(_ request: GenerationRequest, startedAt: Double, lastEvent: Double?) {
            self.init(
                jobID: request.jobID.rawValue, workDir: request.workDir, size: request.size, timeLimit: request.timeLimitSeconds,
                startedAt: startedAt, lastEvent: lastEvent)
            resumedAfter = request.resume?.afterChunk
            audio = request.pipeline.audio
            fps = request.spec.fps
        }

        var position: String { lastChunk.map { "after chunk \($0)" } ?? "before its first chunk" }
    }

    enum Phase: Sendable {
        /// A resident worker loading its model.
        case loading(since: Double)
        /// A resident worker with its model loaded and no job.
        case ready(since: Double)
        case serving(Run)
        /// Spool asked a resident worker's job to stop; the worker must answer by `deadline`.
        case cancelling(Run, deadline: Double, reason: String)
        /// A per-job worker printed `done`: it succeeds by exiting cleanly.
        case finishing(Run)
        /// Spool told the worker's process group to end (SIGTERM), for `reason`; past
        /// `killAt` it is killed (SIGKILL).
        case killing(reason: GenerationError, run: Run?, killAt: Double)
        /// Spool closed a resident worker's stdin: it should exit by `killAt`.
        case stopping(killAt: Double)
        case exited
    }

    /// What the I/O around the state must do.
    enum Action: Sendable, Equatable {
        case none
        /// The model is loaded: wake whoever waits for it.
        case becameReady(WorkerReady)
        /// Hand this event to the job's stream.
        case deliver(WorkerEvent)
        /// The job is over: its stream ends after this last event (if any), or with this
        /// error. A resident worker is ready for the next job.
        case endRun(Result<WorkerEvent?, GenerationError>)
        /// Write a cancel line for the job in flight (a resident worker).
        case askToCancel(jobID: String)
        /// End the worker's process group (SIGCONT, then SIGTERM); the job in flight, if
        /// any, ends with `reason` once the process is gone.
        case terminate(GenerationError)
        /// The grace is over and the worker has not exited: SIGKILL its process group.
        case forceKill
        /// The process is gone: fail the load's waiters with `loadFailure` (when it was
        /// still loading) and end the job in flight as `run` says.
        case gone(loadFailure: GenerationError?, run: Result<WorkerEvent?, GenerationError>?)
    }

    let mode: Mode
    let pipeline: String
    let timeouts: PipelineDefinition.Timeouts
    /// Seconds between SIGTERM and SIGKILL.
    let terminationGrace: Double
    private(set) var phase: Phase
    private(set) var jobsServed = 0
    /// A per-job worker's model load: seconds from its start to its `ready`.
    private(set) var loadSeconds: Double?
    /// Whether the SIGKILL after the grace was sent.
    private var forceKilled = false

    /// A resident worker, loading from `now`.
    init(residentPipeline pipeline: String, timeouts: PipelineDefinition.Timeouts, terminationGrace: Double, now: Double) {
        mode = .resident
        self.pipeline = pipeline
        self.timeouts = timeouts
        self.terminationGrace = terminationGrace
        phase = .loading(since: now)
    }

    /// A per-job worker, started at `run.startedAt` with its job.
    init(perJobPipeline pipeline: String, timeouts: PipelineDefinition.Timeouts, terminationGrace: Double, run: Run) {
        mode = .perJob
        self.pipeline = pipeline
        self.timeouts = timeouts
        self.terminationGrace = terminationGrace
        phase = .serving(run)
    }

    var isReady: Bool { if case .ready = phase { true } else { false } }
    var isAlive: Bool {
        switch phase {
        case .exited, .killing: false
        default: true
        }
    }

    /// The job in flight, if any.
    var run: Run? {
        switch phase {
        case .serving(let run), .cancelling(let run, _, _), .finishing(let run): run
        case .killing(_, let run, _): run
        default: nil
        }
    }

    // MARK: Spool's side

    /// Spool hands a resident worker a job. Only a ready worker takes one.
    mutating func start(_ run: Run) -> Bool {
        guard mode == .resident, isReady else { return false }
        phase = .serving(run)
        return true
    }

    /// Spool asks the job in flight to stop: a resident worker is asked (and killed if it
    /// does not answer within `cancelSeconds`); a per-job worker is ended at once.
    mutating func cancel(reason: String, now: Double) -> Action {
        guard case .serving(let run) = phase else { return .none }
        switch mode {
        case .resident:
            phase = .cancelling(run, deadline: now + timeouts.cancelSeconds, reason: reason)
            return .askToCancel(jobID: run.jobID)
        case .perJob:
            return terminate(.cancelled, reason, now: now)
        }
    }

    /// Spool holds the job's worker where it is (SIGSTOP) or lets it go on: whether to signal.
    mutating func pause(_ paused: Bool, now: Double) -> Bool {
        guard var run = run, isAlive, run.paused != paused else { return false }
        run.paused = paused
        // The pause was Spool's doing: the stall clock starts again from here.
        if !paused, run.lastEvent != nil { run.lastEvent = now }
        replace(run)
        return true
    }

    /// Spool closes a resident worker's stdin; it ends by exiting, or is killed `grace`
    /// seconds later.
    mutating func stop(grace: Double, now: Double) {
        if isAlive { phase = .stopping(killAt: now + grace) }
    }

    // MARK: The worker's side

    /// A line the worker printed. `chunkProblem` is what checking an announced chunk's file
    /// found wrong (done by the caller, on the file system).
    mutating func received(_ message: WorkerMessage, chunkProblem: ChunkError?, now: Double) -> Action {
        switch mode {
        case .resident: receivedResident(message, chunkProblem: chunkProblem, now: now)
        case .perJob: receivedPerJob(message.event, chunkProblem: chunkProblem, now: now)
        }
    }

    private mutating func receivedResident(_ message: WorkerMessage, chunkProblem: ChunkError?, now: Double) -> Action {
        switch (phase, message.event) {
        case (.killing, _), (.exited, _), (.stopping, _), (.finishing, _):
            return .none
        case (_, .hello):
            return .none
        case (.loading, .ready(let ready)):
            guard ready.protocol == WorkerRequest.residentProtocolVersion else {
                return terminate(.malformedOutput, "the worker speaks protocol \(ready.protocol); a resident pipeline's worker speaks \(WorkerRequest.residentProtocolVersion)", now: now)
            }
            phase = .ready(since: now)
            return .becameReady(ready)
        case (_, .ready):
            return terminate(.malformedOutput, "the worker said ready a second time", now: now)
        case (.loading, let event):
            return terminate(.malformedOutput, "the worker printed \(Self.name(event)) before it was ready", now: now)
        case (.ready, let event):
            return terminate(.malformedOutput, "the worker printed \(Self.name(event)) for job \(message.jobID ?? "(none)") while it had no job", now: now)
        case (.serving(var run), let event), (.cancelling(var run, _, _), let event):
            guard message.jobID == run.jobID else {
                return terminate(.malformedOutput, "the worker printed \(Self.name(event)) for job \(message.jobID ?? "(none)") while it was running job \(run.jobID)", now: now)
            }
            run.lastEvent = now
            switch event {
            case .chunk(let chunk):
                return accept(chunk, in: &run, problem: chunkProblem, now: now)
            case .checkpoint(let checkpoint):
                return accept(checkpoint, in: &run, problem: chunkProblem, now: now)
            case .progress:
                replace(run)
                return .deliver(event)
            case .done:
                jobsServed += 1
                phase = .ready(since: now)
                return .endRun(.success(event))
            case .cancelled:
                let reason = if case .cancelling(_, _, let reason) = phase { reason } else { "the job was cancelled" }
                phase = .ready(since: now)
                return .endRun(.failure(GenerationError(.cancelled, reason)))
            case .failed(let reason):
                jobsServed += 1
                phase = .ready(since: now)
                return .endRun(.failure(GenerationError(.jobFailed, "the worker could not generate the job: \(reason)")))
            case .hello, .ready:
                return .none
            }
        }
    }

    private mutating func receivedPerJob(_ event: WorkerEvent, chunkProblem: ChunkError?, now: Double) -> Action {
        guard case .serving(var run) = phase else { return .none }
        run.lastEvent = now
        let version = WorkerRequest.protocolVersion
        let otherProtocol = "this pipeline's workers speak \(version) (set \"resident\": true for protocol 2)"
        switch event {
        case .hello(let spoken, _) where spoken != version:
            return terminate(.malformedOutput, "the worker speaks protocol \(spoken); \(otherProtocol)", now: now)
        case .ready(let ready) where ready.protocol != version:
            return terminate(.malformedOutput, "the worker speaks protocol \(ready.protocol); \(otherProtocol)", now: now)
        case .cancelled, .failed:
            return terminate(.malformedOutput, "the worker printed a protocol 2 event, \(event), but is run per job (protocol 1)", now: now)
        case .chunk(let chunk):
            return accept(chunk, in: &run, problem: chunkProblem, now: now)
        case .checkpoint(let checkpoint):
            return accept(checkpoint, in: &run, problem: chunkProblem, now: now)
        case .done:
            phase = .finishing(run)
            return .deliver(event)
        case .ready:
            if loadSeconds == nil { loadSeconds = now - run.startedAt }
            replace(run)
            return .deliver(event)
        case .hello, .progress:
            replace(run)
            return .deliver(event)
        }
    }

    /// A chunk announced by the job in flight: its file checked, never announced before.
    private mutating func accept(_ chunk: ChunkDescriptor, in run: inout Run, problem: ChunkError?, now: Double) -> Action {
        if let problem { return terminate(.badChunk, "\(problem)", now: now) }
        guard run.chunksSeen.insert(chunk.index).inserted else {
            return terminate(.badChunk, "chunk \(chunk.index) was announced twice", now: now)
        }
        run.lastChunk = chunk.index
        replace(run)
        return .deliver(.chunk(chunk))
    }

    /// A checkpoint of the job in flight: its state file checked (`problem`), after a chunk
    /// this attempt announced (or the one it resumed after), never before an earlier one's.
    private mutating func accept(_ checkpoint: WorkerCheckpoint, in run: inout Run, problem: ChunkError?, now: Double) -> Action {
        if let problem { return terminate(.badChunk, "\(problem)", now: now) }
        let k = checkpoint.afterChunk
        guard run.chunksSeen.contains(k) || k == run.resumedAfter else {
            return terminate(.badChunk, "the worker announced a checkpoint after chunk \(k), which it has not announced", now: now)
        }
        if let last = run.lastCheckpoint, k <= last {
            return terminate(.badChunk, "the worker announced a checkpoint after chunk \(k) once it had one after chunk \(last)", now: now)
        }
        run.lastCheckpoint = k
        replace(run)
        return .deliver(.checkpoint(checkpoint))
    }

    /// Spool could not write to a resident worker's stdin: it stopped reading (or is gone).
    mutating func notReading(now: Double) -> Action {
        guard isAlive, !isStopping else { return .none }
        return terminate(.malformedOutput, "the worker does not read its stdin", now: now)
    }

    /// A line that is not a protocol message (`shown`), or one too long to be one.
    mutating func garbled(_ shown: String?, now: Double) -> Action {
        guard isAlive, !isStopping else { return .none }
        guard let shown else { return terminate(.malformedOutput, "the worker printed a line longer than 1 MiB on stdout", now: now) }
        return terminate(.malformedOutput, "the worker printed a line that is not a protocol event: \(shown)", now: now)
    }

    /// The worker's process has exited, with `status` (128 + the signal when `signaled`).
    mutating func exited(status: Int32, signaled: Bool, signalName: String, stderrTail: String) -> Action {
        let before = phase
        phase = .exited
        let how = signaled ? "crashed: killed by signal \(status - 128) (\(signalName))" : "exited with status \(status)"
        switch (mode, before) {
        case (_, .killing(var reason, let run, _)):
            reason.stderrTail = stderrTail
            return .gone(loadFailure: run == nil ? reason : nil, run: run == nil ? nil : .failure(reason))
        case (.resident, .loading):
            return .gone(loadFailure: GenerationError(
                .loadFailed, "the worker of pipeline \(pipeline) \(how) before it was ready", stderrTail: stderrTail), run: nil)
        case (.resident, .serving(let run)), (.resident, .cancelling(let run, _, _)):
            let kind: GenerationError.Kind = signaled ? .crashed : .exitedWithError
            return .gone(loadFailure: nil, run: .failure(GenerationError(
                kind, "the worker \(how) while running the job, \(run.position)", stderrTail: stderrTail)))
        case (.perJob, .finishing) where !signaled && status == 0:
            return .gone(loadFailure: nil, run: .success(nil))
        case (.perJob, .serving(let run)), (.perJob, .finishing(let run)), (.perJob, .cancelling(let run, _, _)):
            let error = if signaled {
                GenerationError(.crashed, "the worker crashed \(run.position): killed by signal \(status - 128) (\(signalName))", stderrTail: stderrTail)
            } else if status != 0 {
                GenerationError(.exitedWithError, "the worker exited with status \(status) \(run.position)", stderrTail: stderrTail)
            } else {
                GenerationError(.exitedWithoutDone, "the worker exited \(run.position) without printing done", stderrTail: stderrTail)
            }
            return .gone(loadFailure: nil, run: .failure(error))
        default:
            return .gone(loadFailure: nil, run: nil)
        }
    }

    /// The clock moved on: a timeout may have run out.
    mutating func tick(now: Double) -> Action {
        switch phase {
        case .killing(_, _, let killAt) where now > killAt, .stopping(let killAt) where now > killAt:
            guard !forceKilled else { return .none }
            forceKilled = true
            return .forceKill
        case .loading(let since) where now - since > timeouts.startupSeconds:
            return terminate(.startupTimeout, "the worker was not ready within \(Self.seconds(timeouts.startupSeconds)) of starting", now: now)
        case .serving(var run), .cancelling(var run, _, _), .finishing(var run):
            if let limit = run.timeLimit, now - run.startedAt > limit {
                return terminate(.timeLimit, "the job's time limit of \(Self.seconds(limit)) ran out", now: now)
            }
            if case .cancelling(_, let deadline, let reason) = phase, now > deadline {
                return terminate(.cancelled, "\(reason); the worker did not stop within \(Self.seconds(timeouts.cancelSeconds)), so it was killed", now: now)
            }
            guard let last = run.lastEvent else {
                if !run.paused, now - run.startedAt > timeouts.startupSeconds {
                    return terminate(.startupTimeout, "the worker printed nothing within \(Self.seconds(timeouts.startupSeconds)) of starting", now: now)
                }
                return .none
            }
            if run.paused {
                run.pausedSilence = max(run.pausedSilence, now - last)
                replace(run)
            } else if now - last > timeouts.stallSeconds {
                return terminate(.stalled, "the worker stalled \(run.position): no event for \(Self.seconds(timeouts.stallSeconds))", now: now)
            }
            return .none
        default:
            return .none
        }
    }

    // MARK: Helpers

    private var isStopping: Bool { if case .stopping = phase { true } else { false } }

    /// Puts back the job in flight, changed, in whatever phase it is.
    private mutating func replace(_ run: Run) {
        switch phase {
        case .serving: phase = .serving(run)
        case .cancelling(_, let deadline, let reason): phase = .cancelling(run, deadline: deadline, reason: reason)
        case .finishing: phase = .finishing(run)
        case .killing(let reason, _, let killAt): phase = .killing(reason: reason, run: run, killAt: killAt)
        default: break
        }
    }

    private mutating func terminate(_ kind: GenerationError.Kind, _ message: String, now: Double) -> Action {
        let reason = GenerationError(kind, message)
        phase = .killing(reason: reason, run: run, killAt: now + terminationGrace)
        return .terminate(reason)
    }

    static func name(_ event: WorkerEvent) -> String {
        switch event {
        case .hello: "hello"
        case .checkpoint: "checkpoint"
        case .ready: "ready"
        case .progress: "a progress event"
        case .chunk(let chunk): "chunk \(chunk.index)"
        case .done: "done"
        case .cancelled: "cancelled"
        case .failed: "failed"
        }
    }

    /// `4 s`, `0.5 s`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }
}
