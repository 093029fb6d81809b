#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpoolCore
import Synchronization

/// One worker process, of either protocol: its rules are ``WorkerState``'s; this drives the
/// process around them (spawning, the pipes, the watchdog, signals) and hands each job's
/// events to its ``WorkerRun``.
///
/// - A resident worker (protocol 2, ``WorkerLauncher/resident(_:pipelineFolder:slotFolder:cudaVisibleDevices:onExit:)``)
///   is started once on a slot, loads its model, says `ready`, then serves jobs one at a
///   time, a request line each on its stdin, until stdin closes.
/// - A per-job worker (protocol 1, ``WorkerLauncher/start(_:)``) gets its one job's request
///   on stdin when it starts, and succeeds by exiting cleanly after `done`.
///
/// What ends what: a job that is done, failed by the worker, or cancelled in time leaves a
/// resident worker ready for the next, its model still loaded. A crash, a stall, a protocol
/// violation, a time limit, a cancel of a per-job worker or one a resident worker does not
/// answer ends the worker's whole process group (SIGTERM, then SIGKILL after the grace); the
/// job in flight fails (or is cancelled) once the process is gone.
///
/// Four threads of its own block on the worker (stdout, stderr, its exit, the watchdog), so
/// no thread of Swift's cooperative pool ever waits on a child process.
public final class Worker: Sendable {
    /// How a resident worker's load went, as the job that waited for it sees it.
    public struct Load: Sendable, Hashable {
        /// Seconds from the start of the process to `ready`, by Spool's clock.
        public var seconds: Double
        public var report: WorkerReady
    }

    public let pipeline: PipelineDefinition
    /// The process group: equal to the worker's pid, and shared by everything it starts.
    public let processGroup: Int32

    private struct Shared {
        var state: WorkerState
        var load: Result<Load, GenerationError>?
        var loadWaiters: [CheckedContinuation<Load, any Error>] = []
        var run: WorkerRun?
        var stdinClosed = false
        var onExit: (@Sendable (Worker) -> Void)?
        /// Callers blocked until the paused job's silence reaches `seconds`.
        var silenceWaiters: [(seconds: Double, semaphore: DispatchSemaphore)] = []
    }

    private let process: WorkerProcess
    private let shared: Mutex<Shared>
    private let stderrTail = StderrTail()
    private let started = DispatchTime.now()
    private let stdoutClosed = DispatchSemaphore(value: 0)
    private let stderrClosed = DispatchSemaphore(value: 0)

    /// How often the watchdog looks at the clock.
    static let tickSeconds = 0.05

    /// A daemon writing to a pipe whose reader died would be killed by SIGPIPE.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Starts `argv` in `workDir`; `state` is the worker's first state (made with `now` 0,
    /// the process's start). `input` is a per-job worker's request (stdin closed after it);
    /// nil keeps stdin open for request lines. Nothing is read until ``begin(with:)``.
    init(
        pipeline: PipelineDefinition, argv: [String], environment: [String: String], workDir: String, input: Data?,
        state: WorkerState, onExit: (@Sendable (Worker) -> Void)?
    ) throws(GenerationError) {
        _ = Self.ignoreSIGPIPE
        self.pipeline = pipeline
        process = try WorkerProcess(argv: argv, environment: environment, workDir: workDir, input: input)
        processGroup = process.processGroup
        shared = Mutex(Shared(state: state, stdinClosed: input != nil, onExit: onExit))
    }

    /// Starts reading the worker's output and watching its clock; a per-job worker's run is
    /// attached first, so it misses none of its events.
    func begin(with run: WorkerRun? = nil) {
        if let run { shared.withLock { $0.run = run } }
        WorkerStreams.readLines(process.stdout, handle: { [self] in received($0) }, closed: { [stdoutClosed] in stdoutClosed.signal() })
        WorkerStreams.readStderr(process.stderr, into: stderrTail, closed: { [stderrClosed] in stderrClosed.signal() })
        WorkerStreams.thread("spool-w-wait") { [self] in waitForExit() }
        WorkerStreams.thread("spool-w-watch") { [self] in watch() }
    }

    /// Seconds since the process started: the state's clock.
    private var now: Double { WorkerStreams.seconds(from: started, to: .now()) }

    /// Whether the worker is loaded and waiting for a job.
    public var isReady: Bool { shared.withLock { $0.state.isReady } }

    /// Whether the process is still there (loading, ready or serving) and not being killed.
    public var isAlive: Bool { shared.withLock { $0.state.isAlive } }

    /// Jobs a resident worker finished (done or failed by the worker).
    public var jobsServed: Int { shared.withLock { $0.state.jobsServed } }

    /// The last lines the worker wrote to stderr.
    public var stderr: String { stderrTail.text }

    /// Waits until a resident worker's model is loaded; throws when the worker died, or was
    /// killed, first.
    public func waitUntilReady() async throws -> Load {
        try await withCheckedThrowingContinuation { continuation in
            let known = shared.withLock { shared -> Result<Load, GenerationError>? in
                if let load = shared.load { return load }
                shared.loadWaiters.append(continuation)
                return nil
            }
            if let known { continuation.resume(with: known.mapError { $0 as any Error }) }
        }
    }

    /// Hands a ready resident worker a job: one request line on its stdin.
    public func start(_ request: GenerationRequest) throws(GenerationError) -> WorkerRun {
        let now = self.now
        let run = WorkerRun(worker: self, jobID: request.jobID.rawValue)
        let accepted = shared.withLock { shared -> Bool in
            guard shared.state.start(.init(request, startedAt: now, lastEvent: now))
            else { return false }
            shared.run = run
            return true
        }
        guard accepted else { throw GenerationError(.spawnFailed, "the worker of pipeline \(pipeline.name) is not ready for a job") }
        if !process.writeLine(request.workerRequest.resident.wireLine) {
            perform(shared.withLock { $0.state.notReading(now: now) })
        }
        return run
    }

    /// Ends a resident worker: stdin closed (it should exit), then its process group killed
    /// after `grace` seconds (the pipeline's cancel timeout) if it has not.
    public func stop(grace: Double? = nil) {
        let close = shared.withLock { shared -> Bool in
            shared.state.stop(grace: grace ?? pipeline.timeouts.cancelSeconds, now: now)
            defer { shared.stdinClosed = true }
            return !shared.stdinClosed
        }
        if close { process.closeStdin() }
        process.signalGroup(SIGCONT)
    }

    // MARK: A job's hand on its worker (through WorkerRun)

    func cancel(jobID: String, reason: String) {
        perform(shared.withLock { shared -> WorkerState.Action in
            guard shared.state.run?.jobID == jobID else { return .none }
            return shared.state.cancel(reason: reason, now: now)
        })
    }

    func pause(jobID: String, _ on: Bool) {
        let signal = shared.withLock { shared -> Bool in
            guard shared.state.run?.jobID == jobID else { return false }
            return shared.state.pause(on, now: now)
        }
        if signal { process.signalGroup(on ? SIGSTOP : SIGCONT) }
    }

    var loadSeconds: Double? { shared.withLock { $0.state.loadSeconds } }

    func waitForPausedSilence(jobID: String, atLeast seconds: Double) {
        let semaphore = DispatchSemaphore(value: 0)
        let waiting = shared.withLock { shared -> Bool in
            guard shared.state.isAlive, let run = shared.state.run, run.jobID == jobID, run.pausedSilence < seconds else {
                return false
            }
            shared.silenceWaiters.append((seconds, semaphore))
            return true
        }
        if waiting { semaphore.wait() }
    }

    // MARK: Around the state

    private func received(_ line: WorkerStreams.Line) {
        let action: WorkerState.Action
        switch line {
        case .message(let message):
            var problem: ChunkError?
            if let run = shared.withLock({ $0.state.run }), message.jobID == run.jobID || shared.withLock({ $0.state.mode }) == .perJob {
                do {
                    switch message.event {
                    case .chunk(let chunk):
                        _ = try chunk.validatedPath(in: run.workDir, expectedSize: run.size)
                        try Self.checkAudio(of: chunk, run: run)
                    case .checkpoint(let checkpoint): _ = try checkpoint.validatedPath(in: run.workDir)
                    default: break
                    }
                } catch {
                    problem = error
                }
            }
            action = shared.withLock { $0.state.received(message, chunkProblem: problem, now: now) }
        case .garbage(let shown):
            action = shared.withLock { $0.state.garbled(shown, now: now) }
        case .tooLong:
            action = shared.withLock { $0.state.garbled(nil, now: now) }
        }
        perform(action)
    }

    /// A pipeline that makes sound gets it with every chunk, and only such a pipeline does.
    private static func checkAudio(of chunk: ChunkDescriptor, run: WorkerState.Run) throws(ChunkError) {
        switch (run.audio, chunk.audio) {
        case (nil, nil): return
        case (nil, .some):
            throw ChunkError(chunk: chunk.index, "carries audio, but the pipeline declares no \"audio\"")
        case (.some, nil):
            throw ChunkError(chunk: chunk.index, "has no audio; the pipeline makes sound, so every chunk must carry it")
        case (.some(let format), .some(let audio)):
            _ = try audio.validatedPath(in: run.workDir, chunk: chunk, expected: format, fps: run.fps)
        }
    }

    /// The watchdog: ticks the state's clock until the process is gone.
    private func watch() {
        while true {
            usleep(UInt32(Self.tickSeconds * 1_000_000))
            let (action, exited) = shared.withLock { shared -> (WorkerState.Action, Bool) in
                if case .exited = shared.state.phase { return (.none, true) }
                return (shared.state.tick(now: now), false)
            }
            if exited { return }
            perform(action)
            wakeSilenceWaiters()
        }
    }

    private func waitForExit() {
        let (status, signaled) = process.waitForExit()
        // Whatever the worker started dies with it, and no longer holds its pipes open: every
        // line it printed is handled before its exit is.
        process.signalGroup(SIGKILL)
        _ = stdoutClosed.wait(timeout: .now() + 5)
        _ = stderrClosed.wait(timeout: .now() + 1)
        let signalName = signaled ? strsignal(status - 128).map { String(cString: $0) } ?? "signal \(status - 128)" : ""
        perform(shared.withLock {
            $0.state.exited(status: status, signaled: signaled, signalName: signalName, stderrTail: stderrTail.text)
        })
        let (onExit, closeStdin) = shared.withLock { shared -> ((@Sendable (Worker) -> Void)?, Bool) in
            defer {
                shared.onExit = nil
                shared.stdinClosed = true
            }
            return (shared.onExit, !shared.stdinClosed)
        }
        if closeStdin { process.closeStdin() }
        wakeSilenceWaiters()
        onExit?(self)
    }

    /// Lets go of callers waiting for a paused silence that has been reached, or that will
    /// never be (the job is over).
    private func wakeSilenceWaiters() {
        let woken = shared.withLock { shared -> [DispatchSemaphore] in
            guard !shared.silenceWaiters.isEmpty else { return [] }
            let silence = shared.state.isAlive ? shared.state.run?.pausedSilence : nil
            var woken: [DispatchSemaphore] = []
            shared.silenceWaiters.removeAll { waiter in
                guard silence.map({ $0 >= waiter.seconds }) ?? true else { return false }
                woken.append(waiter.semaphore)
                return true
            }
            return woken
        }
        for semaphore in woken { semaphore.signal() }
    }

    private func perform(_ action: WorkerState.Action) {
        switch action {
        case .none:
            break
        case .becameReady(let report):
            let load = Load(seconds: now, report: report)
            let waiters = shared.withLock { shared -> [CheckedContinuation<Load, any Error>] in
                shared.load = .success(load)
                defer { shared.loadWaiters.removeAll() }
                return shared.loadWaiters
            }
            for waiter in waiters { waiter.resume(returning: load) }
        case .deliver(let event):
            shared.withLock { $0.run }?.deliver(event)
        case .endRun(let result):
            let run = shared.withLock { shared -> WorkerRun? in
                defer { shared.run = nil }
                return shared.run
            }
            run?.finish(result)
            wakeSilenceWaiters()
        case .askToCancel(let jobID):
            if !process.writeLine(WorkerCancel(jobId: jobID).wireLine) {
                perform(shared.withLock { $0.state.notReading(now: now) })
            }
        case .terminate:
            // A stopped worker acts on SIGTERM only once it runs again.
            process.signalGroup(SIGCONT)
            process.signalGroup(SIGTERM)
        case .forceKill:
            process.signalGroup(SIGKILL)
        case .gone(let loadFailure, let ending):
            let (waiters, load, run) = shared.withLock { shared -> ([CheckedContinuation<Load, any Error>], Result<Load, GenerationError>, WorkerRun?) in
                if shared.load == nil {
                    shared.load = .failure(loadFailure ?? GenerationError(.loadFailed, "the worker of pipeline \(pipeline.name) was stopped before it was ready"))
                }
                defer {
                    shared.loadWaiters.removeAll()
                    shared.run = nil
                }
                return (shared.loadWaiters, shared.load!, shared.run)
            }
            for waiter in waiters { waiter.resume(with: load.mapError { $0 as any Error }) }
            run?.finish(ending ?? .failure(GenerationError(.crashed, "the worker of pipeline \(pipeline.name) is gone", stderrTail: stderrTail.text)))
        }
    }
}

/// One job on a worker: its events, and the job's hand on the worker (cancel, pause).
public final class WorkerRun: Sendable {
    /// Validated protocol events: every `chunk` names a complete file in the work directory.
    /// The stream finishes after the job's last event (`done`), or throws a ``GenerationError``.
    public let events: AsyncThrowingStream<WorkerEvent, any Error>
    private let continuation: AsyncThrowingStream<WorkerEvent, any Error>.Continuation
    private let worker: Worker
    private let jobID: String

    init(worker: Worker, jobID: String) {
        self.worker = worker
        self.jobID = jobID
        (events, continuation) = AsyncThrowingStream.makeStream(of: WorkerEvent.self)
    }

    /// The worker's process group.
    public var processGroup: Int32 { worker.processGroup }

    func deliver(_ event: WorkerEvent) {
        continuation.yield(event)
    }

    func finish(_ result: Result<WorkerEvent?, GenerationError>) {
        switch result {
        case .success(let last):
            if let last { continuation.yield(last) }
            continuation.finish()
        case .failure(let error):
            continuation.finish(throwing: error)
        }
    }

    /// Stops the job: a resident worker is asked to (and killed if it does not within its
    /// pipeline's cancel timeout); a per-job worker's process group is ended. The stream then
    /// throws ``GenerationError/Kind/cancelled``.
    public func cancel(reason: String) { worker.cancel(jobID: jobID, reason: reason) }

    /// Stops the worker and everything it started where they are (SIGSTOP), until
    /// ``resume()``: how Spool holds a worker that is too far ahead of the encoder. Time
    /// paused is not silence to the stall watchdog; it still counts toward the time limit.
    public func pause() { worker.pause(jobID: jobID, true) }

    /// Lets a paused worker go on (SIGCONT).
    public func resume() { worker.pause(jobID: jobID, false) }

    /// Seconds from a per-job worker's start to its `ready` (its model's load), once it said
    /// so; nil for a worker that does not, and for a resident worker, whose load is its slot's.
    public var loadSeconds: Double? { worker.loadSeconds }

    /// Blocks the calling thread until the stall watchdog has found the paused worker silent
    /// for `seconds`, and let it pass, or the job ends: how a caller holds a paused worker
    /// exactly as long as the watchdog's check needs.
    public func waitForPausedSilence(atLeast seconds: Double) {
        worker.waitForPausedSilence(jobID: jobID, atLeast: seconds)
    }
}
