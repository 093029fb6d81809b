import SpoolCore
import SpoolGenerators
import SpoolMedia
import Synchronization

/// Lets the dispatcher stop a running attempt from outside: a cancellation, a shutdown,
/// or the discovery that another host took the job over.
final class AttemptControl: Sendable {
    enum StopReason: Sendable, Equatable {
        /// The job was cancelled; the store already says so.
        case cancelled
        /// This host is shutting down; the job goes back to the queue.
        case interrupted
        /// The store no longer gives this attempt the job (its lease was taken over).
        case stale
        /// This host could not renew its lease before it ran out: another host may take the
        /// job now, so this attempt stops (self-fencing) and the job goes back to the queue.
        case fenced
    }

    private struct State {
        var run: WorkerRun?
        var encoder: StreamingEncoder?
        var reason: StopReason?
        var stopAtCheckpoint = false
    }

    private let state = Mutex(State())

    /// Registers what to stop. Returns false if the attempt was stopped already, in which
    /// case the caller must stop them itself.
    func attach(run: WorkerRun?, encoder: StreamingEncoder?) -> Bool {
        state.withLock { state in
            if let run { state.run = run }
            if let encoder { state.encoder = encoder }
            return state.reason == nil
        }
    }

    /// Stops the worker and the encoder; the first reason given wins.
    func stop(_ reason: StopReason, message: String) {
        let (run, encoder) = state.withLock { state in
            if state.reason == nil { state.reason = reason }
            return (state.run, state.encoder)
        }
        run?.cancel(reason: message)
        encoder?.cancel()
    }

    /// The host is draining: the attempt goes back to the queue as soon as its next
    /// checkpoint is in the store (a pipeline without checkpoints is stopped at the grace's end).
    func stopAtNextCheckpoint() {
        state.withLock { $0.stopAtCheckpoint = true }
    }

    /// A checkpoint is in the store: a draining host stops the attempt here, losing nothing.
    func checkpointCommitted(_ checkpoint: JobCheckpoint) {
        guard state.withLock({ $0.stopAtCheckpoint }) else { return }
        stop(.interrupted, message: "the host is shutting down; the job goes back to the queue at its checkpoint after chunk \(checkpoint.chunk)")
    }

    /// Holds the worker (or lets it go on) while the encoder catches up.
    func hold(_ on: Bool) {
        let run = state.withLock { $0.run }
        if on { run?.pause() } else { run?.resume() }
    }

    var reason: StopReason? { state.withLock { $0.reason } }
}
