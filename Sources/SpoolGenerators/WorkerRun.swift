#if canImport(Glibc)
import Glibc
#endif
import CSpoolSystem
import Dispatch
import Foundation
import SpoolCore

/// Supervises one worker process: parses and validates its stdout into events, keeps
/// the tail of its stderr, enforces the start-up, stall and time limits, and makes sure
/// that when it ends, for whatever reason, nothing of its process group is left.
///
/// Three threads block on the worker (stdout, stderr, exit) so no cooperative-pool thread
/// ever waits on a child process.
final class WorkerRun: GenerationRun, @unchecked Sendable {
    let events: AsyncThrowingStream<WorkerEvent, any Error>
    private let continuation: AsyncThrowingStream<WorkerEvent, any Error>.Continuation
    private let process: WorkerProcess
    private let request: GenerationRequest
    private let grace: Double
    private let started = DispatchTime.now()
    private let stderrTail = StderrTail()
    private let watchdog: any DispatchSourceTimer
    private let stdoutClosed = DispatchSemaphore(value: 0)
    private let stderrClosed = DispatchSemaphore(value: 0)

    // Guarded by `lock`, a condition whose waiters are woken when a paused worker's silence
    // grows or the run ends (``waitForPausedSilence(atLeast:)``).
    private let lock = NSCondition()
    private var failure: GenerationError?
    private var lastEvent: DispatchTime?
    private var readyAt: DispatchTime?
    private var sawDone = false
    private var exited = false
    private var chunksSeen = Set<Int>()
    private var lastChunk: Int?
    private var paused = false
    private var pausedSilence = 0.0

    init(process: WorkerProcess, request: GenerationRequest, grace: Double) {
        self.process = process
        self.request = request
        self.grace = grace
        (events, continuation) = AsyncThrowingStream.makeStream(of: WorkerEvent.self)
        watchdog = DispatchSource.makeTimerSource(queue: .global())
        watchdog.schedule(deadline: .now() + 0.05, repeating: 0.05)
        watchdog.setEventHandler { [weak self] in self?.checkDeadlines() }
        watchdog.resume()
        WorkerStreams.readLines(process.stdout, handle: { [self] line in handle(line) }, closed: { [stdoutClosed] in stdoutClosed.signal() })
        WorkerStreams.readStderr(process.stderr, into: stderrTail, closed: { [stderrClosed] in stderrClosed.signal() })
        WorkerStreams.thread("spool-w-wait") { [self] in waitForExit() }
    }

    var processGroup: Int32? { process.processGroup }

    var loadSeconds: Double? {
        lock.withLock { readyAt.map { WorkerStreams.seconds(from: started, to: $0) } }
    }

    func waitForPausedSilence(atLeast seconds: Double) {
        lock.lock()
        while pausedSilence < seconds && !exited && failure == nil { lock.wait() }
        lock.unlock()
    }

    func cancel(reason: String) {
        fail(GenerationError(.cancelled, reason))
    }

    func pause() {
        lock.lock()
        defer { lock.unlock() }
        guard !paused, failure == nil, !exited else { return }
        paused = true
        process.signalGroup(SIGSTOP)
    }

    func resume() {
        lock.lock()
        defer { lock.unlock() }
        guard paused else { return }
        paused = false
        // The pause was Spool's doing: the stall clock starts again from here.
        if lastEvent != nil { lastEvent = .now() }
        process.signalGroup(SIGCONT)
    }

    // MARK: Output

    private func handle(_ line: WorkerStreams.Line) {
        let event: WorkerEvent
        switch line {
        case .message(let message):
            event = message.event
        case .garbage(let shown):
            fail(GenerationError(.malformedOutput, "the worker printed a line that is not a protocol event: \(shown)"))
            return
        case .tooLong:
            fail(GenerationError(.malformedOutput, "the worker printed a line longer than 1 MiB on stdout"))
            return
        }
        lock.lock()
        if failure != nil || sawDone {
            lock.unlock()
            return
        }
        lastEvent = .now()
        lock.unlock()

        switch event {
        case .ready(let ready) where ready.protocol != WorkerRequest.protocolVersion:
            fail(GenerationError(.malformedOutput, "the worker speaks protocol \(ready.protocol); this pipeline's workers speak \(WorkerRequest.protocolVersion) (set \"resident\": true for protocol 2)"))
            return
        case .hello(let version, _) where version != WorkerRequest.protocolVersion:
            fail(GenerationError(.malformedOutput, "the worker speaks protocol \(version); this pipeline's workers speak \(WorkerRequest.protocolVersion) (set \"resident\": true for protocol 2)"))
            return
        case .cancelled, .failed:
            fail(GenerationError(.malformedOutput, "the worker printed a protocol 2 event, \(event), but is run per job (protocol 1)"))
            return
        case .chunk(let chunk):
            do {
                let size = FrameSize(width: request.workerRequest.width, height: request.workerRequest.height)
                _ = try chunk.validatedPath(in: request.workDir, expectedSize: size)
            } catch {
                fail(GenerationError(.badChunk, "\(error)"))
                return
            }
            lock.lock()
            let duplicate = !chunksSeen.insert(chunk.index).inserted
            lastChunk = chunk.index
            lock.unlock()
            if duplicate {
                fail(GenerationError(.badChunk, "chunk \(chunk.index) was announced twice"))
                return
            }
        case .done:
            lock.lock()
            sawDone = true
            lock.unlock()
        case .ready:
            lock.withLock { if readyAt == nil { readyAt = .now() } }
        case .hello, .progress:
            break
        }
        continuation.yield(event)
    }

    // MARK: Ending

    private func waitForExit() {
        let (status, signaled) = process.waitForExit()
        lock.lock()
        exited = true
        lock.broadcast()
        lock.unlock()
        // Whatever the worker started dies with it, and no longer holds its pipes open.
        process.signalGroup(SIGKILL)
        _ = stdoutClosed.wait(timeout: .now() + 5)
        _ = stderrClosed.wait(timeout: .now() + 1)
        watchdog.cancel()

        lock.lock()
        let failure = self.failure
        let sawDone = self.sawDone
        let after = lastChunk.map { "after chunk \($0)" } ?? "before its first chunk"
        lock.unlock()
        let tail = stderrTail.text
        if var failure {
            failure.stderrTail = tail
            continuation.finish(throwing: failure)
        } else if signaled {
            let signal = status - 128
            let name = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
            continuation.finish(throwing: GenerationError(.crashed, "the worker crashed \(after): killed by signal \(signal) (\(name))", stderrTail: tail))
        } else if status != 0 {
            continuation.finish(throwing: GenerationError(.exitedWithError, "the worker exited with status \(status) \(after)", stderrTail: tail))
        } else if !sawDone {
            continuation.finish(throwing: GenerationError(.exitedWithoutDone, "the worker exited \(after) without printing done", stderrTail: tail))
        } else {
            continuation.finish()
        }
    }

    /// Records the first failure and stops the worker: SIGTERM to its group, then SIGKILL
    /// after the grace period if it has not exited.
    private func fail(_ error: GenerationError) {
        lock.lock()
        // Recorded even after the exit: a fast worker can be gone before its last lines
        // are read, and their failure must still decide the outcome.
        guard failure == nil else {
            lock.unlock()
            return
        }
        failure = error
        lock.broadcast()
        let alreadyExited = exited
        let wasPaused = paused
        paused = false
        lock.unlock()
        if alreadyExited { return }
        process.signalGroup(SIGTERM)
        // A stopped worker acts on SIGTERM only once it runs again.
        if wasPaused { process.signalGroup(SIGCONT) }
        DispatchQueue.global().asyncAfter(deadline: .now() + grace) { [self] in
            lock.lock()
            let stillRunning = !exited
            lock.unlock()
            if stillRunning { process.signalGroup(SIGKILL) }
        }
    }

    private func checkDeadlines() {
        lock.lock()
        // Read the clock under the lock: the reader threads stamp `lastEvent` under it, so a
        // clock read before taking it can be older than the stamp (and the difference negative).
        let now = DispatchTime.now()
        let last = lastEvent
        let chunk = lastChunk
        let done = exited || failure != nil
        let paused = self.paused
        if paused, let last {
            pausedSilence = max(pausedSilence, WorkerStreams.seconds(from: last, to: now))
            lock.broadcast()
        }
        lock.unlock()
        if done { return }
        let elapsed = WorkerStreams.seconds(from: started, to: now)
        let timeouts = request.pipeline.timeouts
        if let limit = request.timeLimitSeconds, elapsed > limit {
            fail(GenerationError(.timeLimit, "the job's time limit of \(WorkerStreams.seconds(limit)) ran out"))
        } else if paused {
            return
        } else if let last {
            let silent = WorkerStreams.seconds(from: last, to: now)
            if silent > timeouts.stallSeconds {
                let position = chunk.map { "after chunk \($0)" } ?? "before its first chunk"
                fail(GenerationError(.stalled, "the worker stalled \(position): no event for \(WorkerStreams.seconds(timeouts.stallSeconds))"))
            }
        } else if elapsed > timeouts.startupSeconds {
            fail(GenerationError(.startupTimeout, "the worker printed nothing within \(WorkerStreams.seconds(timeouts.startupSeconds)) of starting"))
        }
    }

}
