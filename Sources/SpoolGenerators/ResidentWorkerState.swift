import SpoolCore

/// What a resident worker (protocol 2) is doing, and what each thing it says or does
/// means: a plain value, so its rules can be read (and tested) apart from the process,
/// pipes and timers that ``ResidentWorker`` drives around it.
///
/// ```
/// loading --ready--> ready --job--> serving --done/failed--> ready
///                                      |  --cancel--> cancelling --cancelled--> ready
///  any --exit--> exited;  any --violation/timeout--> killing --exit--> exited
/// ```
struct ResidentWorkerState: Sendable {
    /// The job in flight.
    struct Run: Sendable {
        var jobID: String
        var workDir: String
        var size: FrameSize
        var timeLimit: Double?
        var startedAt: Double
        /// When the job last said anything, for the stall timeout; reset when resumed.
        var lastEvent: Double
        var chunksSeen: Set<Int> = []
        var lastChunk: Int?
        var paused = false
    }

    enum Phase: Sendable {
        case loading(since: Double)
        case ready(since: Double)
        case serving(Run)
        /// Spool asked the job to stop; the worker must answer by `deadline`.
        case cancelling(Run, deadline: Double, reason: String)
        /// Spool is killing the worker, for `reason`.
        case killing(reason: GenerationError, run: Run?)
        /// Spool closed stdin: the worker should exit.
        case stopping
        case exited
    }

    /// What the I/O around the state must do.
    enum Action: Sendable {
        case none
        /// The model is loaded: wake whoever waits for it.
        case becameReady(WorkerReady)
        /// Hand this event to the job's stream.
        case deliver(WorkerEvent)
        /// The job is over: its stream ends with this last event (`done`), or this error. The
        /// worker is ready for the next job.
        case endRun(Result<WorkerEvent, GenerationError>)
        /// Kill the worker's process group; the job in flight (if any) ends with `reason`
        /// once the process is gone.
        case kill(GenerationError)
        /// The process is gone: fail the load waiters with `loadFailure` (when it was still
        /// loading) and end the job in flight with `runFailure`.
        case gone(loadFailure: GenerationError?, runFailure: GenerationError?)
    }

    let pipeline: String
    let timeouts: PipelineDefinition.Timeouts
    let cancelSeconds: Double
    private(set) var phase: Phase
    private(set) var jobsServed = 0

    init(pipeline: String, timeouts: PipelineDefinition.Timeouts, cancelSeconds: Double, now: Double) {
        self.pipeline = pipeline
        self.timeouts = timeouts
        self.cancelSeconds = cancelSeconds
        phase = .loading(since: now)
    }

    var isReady: Bool { if case .ready = phase { true } else { false } }
    var isLoading: Bool { if case .loading = phase { true } else { false } }
    var isAlive: Bool {
        switch phase {
        case .exited, .killing: false
        default: true
        }
    }

    /// The job in flight, if any.
    var run: Run? {
        switch phase {
        case .serving(let run), .cancelling(let run, _, _): run
        case .killing(_, let run): run
        default: nil
        }
    }

    // MARK: Spool's side

    /// Spool hands the worker a job. Only a ready worker takes one.
    mutating func start(_ run: Run) -> Bool {
        guard isReady else { return false }
        phase = .serving(run)
        return true
    }

    /// Spool asks the job in flight to stop.
    mutating func cancel(reason: String, now: Double) -> Bool {
        guard case .serving(let run) = phase else { return false }
        phase = .cancelling(run, deadline: now + cancelSeconds, reason: reason)
        return true
    }

    mutating func pause(_ paused: Bool, now: Double) {
        switch phase {
        case .serving(var run):
            run.paused = paused
            if !paused { run.lastEvent = now }
            phase = .serving(run)
        case .cancelling(var run, let deadline, let reason):
            run.paused = paused
            phase = .cancelling(run, deadline: deadline, reason: reason)
        default:
            break
        }
    }

    /// Spool closes stdin; a worker ends by exiting.
    mutating func stop() {
        if isAlive { phase = .stopping }
    }

    // MARK: The worker's side

    /// A line the worker printed. `chunkProblem` is what checking an announced chunk's file
    /// found wrong (done by the caller, on the file system).
    mutating func received(_ message: WorkerMessage, chunkProblem: ChunkError?, now: Double) -> Action {
        switch (phase, message.event) {
        case (.killing, _), (.exited, _), (.stopping, _):
            return .none
        case (_, .hello):
            return .none
        case (.loading, .ready(let ready)):
            guard ready.protocol == WorkerRequest.residentProtocolVersion else {
                return kill(.malformedOutput, "the worker speaks protocol \(ready.protocol); a resident pipeline's worker speaks \(WorkerRequest.residentProtocolVersion)")
            }
            phase = .ready(since: now)
            return .becameReady(ready)
        case (_, .ready):
            return kill(.malformedOutput, "the worker said ready a second time")
        case (.loading, let event):
            return kill(.malformedOutput, "the worker printed \(Self.name(event)) before it was ready")
        case (.ready, let event):
            return kill(.malformedOutput, "the worker printed \(Self.name(event)) for job \(message.jobID ?? "(none)") while it had no job")
        case (.serving(var run), let event), (.cancelling(var run, _, _), let event):
            guard message.jobID == run.jobID else {
                return kill(.malformedOutput, "the worker printed \(Self.name(event)) for job \(message.jobID ?? "(none)") while it was running job \(run.jobID)")
            }
            run.lastEvent = now
            switch event {
            case .chunk(let chunk):
                if let chunkProblem { return kill(.badChunk, "\(chunkProblem)") }
                guard run.chunksSeen.insert(chunk.index).inserted else {
                    return kill(.badChunk, "chunk \(chunk.index) was announced twice")
                }
                run.lastChunk = chunk.index
                update(run)
                return .deliver(event)
            case .progress:
                update(run)
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

    /// Spool could not write to the worker's stdin: it stopped reading (or is gone).
    mutating func notReading() -> Action {
        guard isAlive, !isStopping else { return .none }
        return kill(.malformedOutput, "the worker does not read its stdin")
    }

    /// A line that is not a protocol message.
    mutating func garbled(_ shown: String) -> Action {
        guard isAlive, !isStopping else { return .none }
        return kill(.malformedOutput, "the worker printed a line that is not a protocol event: \(shown)")
    }

    /// The worker's process has exited; `description` says how (`exited with status 3`).
    mutating func exited(description: String, stderrTail: String) -> Action {
        let before = phase
        phase = .exited
        switch before {
        case .loading:
            return .gone(loadFailure: GenerationError(
                .loadFailed, "the worker of pipeline \(pipeline) \(description) before it was ready", stderrTail: stderrTail), runFailure: nil)
        case .killing(var reason, let run):
            reason.stderrTail = stderrTail
            return .gone(loadFailure: run == nil ? reason : nil, runFailure: run == nil ? nil : reason)
        case .serving(let run), .cancelling(let run, _, _):
            let position = run.lastChunk.map { "after chunk \($0)" } ?? "before its first chunk"
            let kind: GenerationError.Kind = description.hasPrefix("crashed") ? .crashed : .exitedWithError
            return .gone(loadFailure: nil, runFailure: GenerationError(
                kind, "the worker \(description) while running the job, \(position)", stderrTail: stderrTail))
        case .ready, .stopping, .exited:
            return .gone(loadFailure: nil, runFailure: nil)
        }
    }

    /// The clock moved on: a timeout may have run out.
    mutating func tick(now: Double) -> Action {
        switch phase {
        case .loading(let since) where now - since > timeouts.startupSeconds:
            return kill(.startupTimeout, "the worker was not ready within \(WorkerStreams.seconds(timeouts.startupSeconds)) of starting")
        case .serving(let run), .cancelling(let run, _, _):
            if let limit = run.timeLimit, now - run.startedAt > limit {
                return kill(.timeLimit, "the job's time limit of \(WorkerStreams.seconds(limit)) ran out")
            }
            if case .cancelling(_, let deadline, let reason) = phase, now > deadline {
                return kill(.cancelled, "\(reason); the worker did not stop within \(WorkerStreams.seconds(cancelSeconds)), so it was killed")
            }
            if !run.paused, now - run.lastEvent > timeouts.stallSeconds {
                let position = run.lastChunk.map { "after chunk \($0)" } ?? "before its first chunk"
                return kill(.stalled, "the worker stalled \(position): no event for \(WorkerStreams.seconds(timeouts.stallSeconds))")
            }
            return .none
        default:
            return .none
        }
    }

    // MARK: Helpers

    private var isStopping: Bool { if case .stopping = phase { true } else { false } }

    private mutating func update(_ run: Run) {
        switch phase {
        case .serving: phase = .serving(run)
        case .cancelling(_, let deadline, let reason): phase = .cancelling(run, deadline: deadline, reason: reason)
        default: break
        }
    }

    private mutating func kill(_ kind: GenerationError.Kind, _ message: String) -> Action {
        let reason = GenerationError(kind, message)
        phase = .killing(reason: reason, run: run)
        return .kill(reason)
    }

    private static func name(_ event: WorkerEvent) -> String {
        switch event {
        case .hello: "hello"
        case .ready: "ready"
        case .progress: "a progress event"
        case .chunk(let chunk): "chunk \(chunk.index)"
        case .done: "done"
        case .cancelled: "cancelled"
        case .failed: "failed"
        }
    }
}
