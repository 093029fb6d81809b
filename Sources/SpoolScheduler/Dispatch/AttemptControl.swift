import SpoolCore
import SpoolGenerators
import SpoolMedia
import Synchronization

/// Lets the dispatcher stop a running attempt from outside: a cancellation, a shutdown,
/// a preemption, or the discovery that another host took the job over.
final class AttemptControl: Sendable {
    enum StopReason: Sendable, Equatable {
        /// The job was cancelled; the store already says so.
        case cancelled
        /// This host is shutting down; the job goes back to the queue.
        case interrupted
        /// A higher-priority job that waited too long takes the slot; the job goes back to
        /// the queue with its checkpoint.
        case preempted(Preemptor)
        /// The store no longer gives this attempt the job (its lease was taken over).
        case stale
        /// This host could not renew its lease before it ran out: another host may take the
        /// job now, so this attempt stops (self-fencing) and the job goes back to the queue.
        case fenced
    }

    /// The waiting job a preempted attempt makes room for.
    struct Preemptor: Sendable, Hashable {
        var job: JobID
        var priority: Int
    }

    /// Why an attempt is to stop at its next checkpoint; a shutdown outranks a preemption.
    enum CheckpointStop: Sendable, Equatable {
        case shutdown
        case preemption(Preemptor)
    }

    private struct State {
        var run: WorkerRun?
        var encoder: StreamingEncoder?
        var reason: StopReason?
        var atCheckpoint: CheckpointStop?
        /// Whether the attempt keeps checkpoints: only such an attempt can stop at one.
        var keepsCheckpoints = false
        /// What else a stop stops (a simulated attempt's work).
        var onStop: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// The job's priority and pipeline, for choosing whom to preempt.
    let priority: Int
    let pipeline: String

    init(priority: Int = 0, pipeline: String = "") {
        self.priority = priority
        self.pipeline = pipeline
    }

    /// Registers what to stop. Returns false if the attempt was stopped already, in which
    /// case the caller must stop them itself.
    func attach(run: WorkerRun?, encoder: StreamingEncoder?) -> Bool {
        state.withLock { state in
            if let run { state.run = run }
            if let encoder { state.encoder = encoder }
            return state.reason == nil
        }
    }

    /// Registers something else a stop must stop; false if the attempt was stopped already.
    func attach(onStop: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            state.onStop = onStop
            return state.reason == nil
        }
    }

    /// Stops the worker and the encoder; the first reason given wins.
    func stop(_ reason: StopReason, message: String) {
        let (run, encoder, onStop) = state.withLock { state in
            if state.reason == nil { state.reason = reason }
            return (state.run, state.encoder, state.onStop)
        }
        run?.cancel(reason: message)
        encoder?.cancel()
        onStop?()
    }

    /// The attempt keeps checkpoints (said once, before it starts its worker).
    func keepingCheckpoints() {
        state.withLock { $0.keepsCheckpoints = true }
    }

    /// Whether the attempt can be preempted now: it keeps checkpoints, and nothing has asked
    /// it to stop yet.
    var preemptible: Bool {
        state.withLock { $0.keepsCheckpoints && $0.atCheckpoint == nil && $0.reason == nil }
    }

    /// Whether a preemption is flagged and not yet carried out.
    var preemptionPending: Preemptor? {
        state.withLock { state in
            if case .preemption(let by) = state.atCheckpoint, state.reason == nil { return by }
            return nil
        }
    }

    /// The attempt is to go back to the queue as soon as its next checkpoint is in the
    /// store: the host drains (a pipeline without checkpoints is stopped at the grace's end),
    /// or a waiting job preempts it.
    func stopAtNextCheckpoint(_ why: CheckpointStop = .shutdown) {
        state.withLock { state in
            if state.atCheckpoint == nil || why == .shutdown { state.atCheckpoint = why }
        }
    }

    /// A checkpoint is in the store: a draining host, or a preemption, stops the attempt
    /// here, losing nothing.
    func checkpointCommitted(_ checkpoint: JobCheckpoint) {
        // Only a checkpoint committed after the flag: the attempt makes a chunk first, so a
        // job preempted once is not preempted again before it has made one.
        switch state.withLock({ $0.atCheckpoint }) {
        case nil:
            return
        case .shutdown:
            stop(.interrupted, message: "the host is shutting down; the job goes back to the queue at its checkpoint after chunk \(checkpoint.chunk)")
        case .preemption(let by):
            stop(.preempted(by), message: "job \(by.job) (priority \(by.priority)) takes the slot; the job goes back to the queue at its checkpoint after chunk \(checkpoint.chunk)")
        }
    }

    /// Holds the worker (or lets it go on) while the encoder catches up.
    func hold(_ on: Bool) {
        let run = state.withLock { $0.run }
        if on { run?.pause() } else { run?.resume() }
    }

    var reason: StopReason? { state.withLock { $0.reason } }
}
