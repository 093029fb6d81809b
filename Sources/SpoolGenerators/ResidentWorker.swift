#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpoolCore
import Synchronization

/// One resident worker (protocol 2): a process started once on a slot, which loads its
/// model, says `ready`, then serves jobs one at a time, a request line each on its stdin,
/// until stdin closes. Its rules are ``ResidentWorkerState``'s; this drives the process
/// around them: spawning, the pipes, the watchdog, signals, and each job's event stream.
///
/// What ends what:
/// - a job that is done, failed by the worker, or cancelled in time leaves the worker ready
///   for the next, the model still loaded;
/// - a crash, a stall, a protocol violation, a time limit or a cancel not answered within the
///   pipeline's cancel timeout kills the worker's whole process group; the job in flight
///   fails (or is cancelled) and the worker is gone (``isAlive`` is false).
///
/// Unchecked: every mutable part is in `shared` (a `Mutex`); the watchdog timer is only
/// cancelled after its creation, which Dispatch allows from any thread.
public final class ResidentWorker: @unchecked Sendable {
    /// How the load went, as the job that waited for it sees it.
    public struct Load: Sendable, Hashable {
        /// Seconds from the start of the process to `ready`, by Spool's clock.
        public var seconds: Double
        public var report: WorkerReady
    }

    public let pipeline: PipelineDefinition
    public let slotFolder: String
    public let processGroup: Int32
    /// What a resident worker's stdout says, what it writes and when it exits: for each job,
    /// a stream; for its loading, the waiters.
    private struct Shared {
        var state: ResidentWorkerState
        var load: Result<Load, GenerationError>?
        var waiters: [CheckedContinuation<Load, any Error>] = []
        var run: ResidentRun?
        var stdinClosed = false
        var onExit: (@Sendable (ResidentWorker) -> Void)?
    }

    private let process: WorkerProcess
    private let shared: Mutex<Shared>
    private let stderrTail = StderrTail()
    private let watchdog: any DispatchSourceTimer
    private let started = DispatchTime.now()
    private let grace: Double
    private let stdoutClosed = DispatchSemaphore(value: 0)
    private let stderrClosed = DispatchSemaphore(value: 0)

    /// A daemon writing to a pipe whose reader died would be killed by SIGPIPE.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Starts the worker in `slotFolder` (its working directory, created if missing) and
    /// begins loading. `onExit` is called once the process is gone, whatever the reason.
    public init(
        pipeline: PipelineDefinition, pipelineFolder: String, slotFolder: String, cudaVisibleDevices: String,
        binDirectory: String = WorkerGenerator.defaultBinDirectory, environment extra: [String: String] = [:],
        terminationGrace: Double = 0.5, onExit: (@Sendable (ResidentWorker) -> Void)? = nil
    ) throws(GenerationError) {
        _ = Self.ignoreSIGPIPE
        self.pipeline = pipeline
        self.slotFolder = slotFolder
        grace = terminationGrace
        do {
            try FileManager.default.createDirectory(atPath: slotFolder, withIntermediateDirectories: true)
        } catch {
            throw GenerationError(.spawnFailed, "cannot create the worker's folder \(slotFolder): \(error.localizedDescription)")
        }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        for (key, value) in pipeline.environment { environment[key] = value }
        environment["CUDA_VISIBLE_DEVICES"] = cudaVisibleDevices
        environment["SPOOL_WORK_DIR"] = slotFolder
        environment["SPOOL_PROTOCOL"] = String(WorkerRequest.residentProtocolVersion)
        environment["PYTHONUNBUFFERED"] = "1"
        let argv = WorkerGenerator.expand(pipeline.command, binDirectory: binDirectory, pipelineFolder: pipelineFolder)
        process = try WorkerProcess(argv: argv, environment: environment, workDir: slotFolder, input: nil)
        processGroup = process.processGroup
        shared = Mutex(Shared(
            state: ResidentWorkerState(
                pipeline: pipeline.name, timeouts: pipeline.timeouts, cancelSeconds: pipeline.timeouts.cancelSeconds, now: 0),
            onExit: onExit))
        watchdog = DispatchSource.makeTimerSource(queue: .global())
        watchdog.schedule(deadline: .now() + 0.05, repeating: 0.05)
        watchdog.setEventHandler { [weak self] in self?.tick() }
        watchdog.resume()
        WorkerStreams.readLines(process.stdout, handle: { [self] in received($0) }, closed: { [stdoutClosed] in stdoutClosed.signal() })
        WorkerStreams.readStderr(process.stderr, into: stderrTail, closed: { [stderrClosed] in stderrClosed.signal() })
        WorkerStreams.thread("spool-w-wait") { [self] in waitForExit() }
    }

    /// Seconds since the process started: the state's clock.
    private var now: Double { WorkerStreams.seconds(from: started, to: .now()) }

    /// Whether the worker is loaded and waiting for a job.
    public var isReady: Bool { shared.withLock { $0.state.isReady } }

    /// Whether the process is still there (loading, ready or serving) and not being killed.
    public var isAlive: Bool { shared.withLock { $0.state.isAlive } }

    /// Jobs the worker finished (done or failed by the worker).
    public var jobsServed: Int { shared.withLock { $0.state.jobsServed } }

    /// The last lines the worker wrote to stderr.
    public var stderr: String { stderrTail.text }

    /// Waits until the model is loaded; throws when the worker died, or was killed, first.
    public func waitUntilReady() async throws -> Load {
        try await withCheckedThrowingContinuation { continuation in
            let known = shared.withLock { shared -> Result<Load, GenerationError>? in
                if let load = shared.load { return load }
                shared.waiters.append(continuation)
                return nil
            }
            if let known { continuation.resume(with: known.mapError { $0 as any Error }) }
        }
    }

    /// Hands the worker a job: one request line on its stdin. The worker must be ready.
    public func start(_ request: GenerationRequest) throws(GenerationError) -> any GenerationRun {
        let size = FrameSize(width: request.workerRequest.width, height: request.workerRequest.height)
        let now = self.now
        let run = ResidentRun(worker: self, jobID: request.jobID.rawValue)
        let accepted = shared.withLock { shared -> Bool in
            guard shared.state.start(.init(
                jobID: request.jobID.rawValue, workDir: request.workDir, size: size, timeLimit: request.timeLimitSeconds,
                startedAt: now, lastEvent: now))
            else { return false }
            shared.run = run
            return true
        }
        guard accepted else { throw GenerationError(.spawnFailed, "the worker of pipeline \(pipeline.name) is not ready for a job") }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        guard let line = try? encoder.encode(request.workerRequest.resident), process.writeLine(line) else {
            perform(shared.withLock { $0.state.notReading() })
            return run
        }
        return run
    }

    /// Asks the job in flight to stop; a worker that does not answer `cancelled` within the
    /// pipeline's cancel timeout is killed.
    func cancel(jobID: String, reason: String) {
        let asked = shared.withLock { shared -> Bool in
            guard shared.state.run?.jobID == jobID else { return false }
            return shared.state.cancel(reason: reason, now: now)
        }
        guard asked else { return }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        if let line = try? encoder.encode(WorkerCancel(jobId: jobID)), !process.writeLine(line) {
            perform(shared.withLock { $0.state.notReading() })
        }
    }

    /// Holds the worker where it is (SIGSTOP), or lets it go on: the raw backlog bound.
    func pause(_ on: Bool) {
        let running = shared.withLock { shared -> Bool in
            guard shared.state.run != nil, shared.state.isAlive else { return false }
            shared.state.pause(on, now: now)
            return true
        }
        if running { process.signalGroup(on ? SIGSTOP : SIGCONT) }
    }

    /// Ends the worker: stdin closed (it should exit), then its process group killed after
    /// `grace` seconds if it has not.
    public func stop(grace: Double? = nil) {
        let close = shared.withLock { shared -> Bool in
            shared.state.stop()
            defer { shared.stdinClosed = true }
            return !shared.stdinClosed
        }
        if close { process.closeStdin() }
        process.signalGroup(SIGCONT)
        DispatchQueue.global().asyncAfter(deadline: .now() + (grace ?? pipeline.timeouts.cancelSeconds)) { [self] in
            if WorkerProcess.liveProcesses(inGroup: processGroup) > 0 { process.signalGroup(SIGKILL) }
        }
    }

    // MARK: Around the state

    private func received(_ line: WorkerStreams.Line) {
        let action: ResidentWorkerState.Action
        switch line {
        case .message(let message):
            var problem: ChunkError?
            if case .chunk(let chunk) = message.event, let run = shared.withLock({ $0.state.run }), message.jobID == run.jobID {
                do {
                    _ = try chunk.validatedPath(in: run.workDir, expectedSize: run.size)
                } catch {
                    problem = error
                }
            }
            action = shared.withLock { $0.state.received(message, chunkProblem: problem, now: now) }
        case .garbage(let shown):
            action = shared.withLock { $0.state.garbled(shown) }
        case .tooLong:
            action = shared.withLock { $0.state.garbled("(a line longer than 1 MiB)") }
        }
        perform(action)
    }

    private func tick() {
        perform(shared.withLock { $0.state.tick(now: now) })
    }

    private func waitForExit() {
        let (status, signaled) = process.waitForExit()
        // Whatever the worker started dies with it, and no longer holds its pipes open: every
        // line it printed is handled before its exit is.
        process.signalGroup(SIGKILL)
        _ = stdoutClosed.wait(timeout: .now() + 5)
        _ = stderrClosed.wait(timeout: .now() + 1)
        watchdog.cancel()
        let description = WorkerStreams.exitDescription(status: status, signaled: signaled)
        perform(shared.withLock { $0.state.exited(description: description, stderrTail: stderrTail.text) })
        let (onExit, closeStdin) = shared.withLock { shared -> ((@Sendable (ResidentWorker) -> Void)?, Bool) in
            defer {
                shared.onExit = nil
                shared.stdinClosed = true
            }
            return (shared.onExit, !shared.stdinClosed)
        }
        if closeStdin { process.closeStdin() }
        onExit?(self)
    }

    private func perform(_ action: ResidentWorkerState.Action) {
        switch action {
        case .none:
            break
        case .becameReady(let report):
            let load = Load(seconds: now, report: report)
            let waiters = shared.withLock { shared -> [CheckedContinuation<Load, any Error>] in
                shared.load = .success(load)
                defer { shared.waiters.removeAll() }
                return shared.waiters
            }
            for waiter in waiters { waiter.resume(returning: load) }
        case .deliver(let event):
            shared.withLock { $0.run }?.deliver(event)
        case .endRun(let result):
            let run = shared.withLock { shared -> ResidentRun? in
                defer { shared.run = nil }
                return shared.run
            }
            run?.finish(result)
        case .kill:
            process.signalGroup(SIGCONT)
            process.signalGroup(SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + grace) { [self] in
                if WorkerProcess.liveProcesses(inGroup: processGroup) > 0 { process.signalGroup(SIGKILL) }
            }
        case .gone(let loadFailure, let runFailure):
            let (waiters, run) = shared.withLock { shared -> ([CheckedContinuation<Load, any Error>], ResidentRun?) in
                if shared.load == nil {
                    shared.load = .failure(loadFailure ?? GenerationError(.loadFailed, "the worker of pipeline \(pipeline.name) was stopped before it was ready"))
                }
                defer {
                    shared.waiters.removeAll()
                    shared.run = nil
                }
                return (shared.waiters, shared.run)
            }
            let failure = shared.withLock { $0.load }
            for waiter in waiters { waiter.resume(with: failure!.mapError { $0 as any Error }) }
            run?.finish(.failure(runFailure ?? GenerationError(.crashed, "the worker of pipeline \(pipeline.name) is gone", stderrTail: stderrTail.text)))
        }
    }
}

/// One job on a resident worker, as ``GenerationRun`` sees it.
final class ResidentRun: GenerationRun, Sendable {
    let events: AsyncThrowingStream<WorkerEvent, any Error>
    private let continuation: AsyncThrowingStream<WorkerEvent, any Error>.Continuation
    private let worker: ResidentWorker
    private let jobID: String

    init(worker: ResidentWorker, jobID: String) {
        self.worker = worker
        self.jobID = jobID
        (events, continuation) = AsyncThrowingStream.makeStream(of: WorkerEvent.self)
    }

    var processGroup: Int32? { worker.processGroup }

    func deliver(_ event: WorkerEvent) {
        continuation.yield(event)
    }

    func finish(_ result: Result<WorkerEvent, GenerationError>) {
        switch result {
        case .success(let last):
            continuation.yield(last)
            continuation.finish()
        case .failure(let error):
            continuation.finish(throwing: error)
        }
    }

    func cancel(reason: String) { worker.cancel(jobID: jobID, reason: reason) }
    func pause() { worker.pause(true) }
    func resume() { worker.pause(false) }
}
