import Foundation
import Synchronization

/// A call that did not answer within its deadline.
public struct DeadlinePassed: Error, CustomStringConvertible, Sendable {
    public var seconds: Double
    public var description: String { "no answer within \(seconds.formatted()) s" }
}

/// Runs `work`, giving up on it after `seconds`: the caller gets ``DeadlinePassed`` then,
/// and `work` is cancelled and left to end on its own. Unlike a task group, which waits for
/// every child, this returns at the deadline even when `work` ignores cancellation (a
/// connection pool waiting for a server that does not answer).
public func withDeadline<T: Sendable>(seconds: Double, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withDeadline(seconds: seconds) { _ in try await work() }
}

/// The same, where `work` may call ``Deadline/disarm()`` once what the deadline bounds is
/// done (a connection acquired): from then on it runs as long as it takes.
public func withDeadline<T: Sendable>(seconds: Double, _ work: @escaping @Sendable (Deadline) async throws -> T) async throws -> T {
    let slot = ContinuationSlot<T>()
    let deadline = Deadline()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            slot.set(continuation)
            let task = Task {
                let result: Result<T, any Error>
                do { result = .success(try await work(deadline)) } catch { result = .failure(error) }
                slot.resume(with: result)
            }
            let timer = Task {
                try await Task.sleep(for: .seconds(seconds))
                guard deadline.expire() else { return }
                if slot.resume(with: .failure(DeadlinePassed(seconds: seconds))) { task.cancel() }
            }
            slot.onResume { timer.cancel() }
        }
    } onCancel: {
        slot.resume(with: .failure(CancellationError()))
    }
}

/// What a ``withDeadline(seconds:_:)-(_,(Deadline)->_)`` call's work holds: it may turn the
/// deadline off before it passes.
public final class Deadline: Sendable {
    /// nil while armed; true once disarmed, false once expired.
    private let state = Mutex<Bool?>(nil)

    /// Turns the deadline off. Returns false if it had passed already.
    @discardableResult
    public func disarm() -> Bool {
        state.withLock { state in
            if state == nil { state = true }
            return state == true
        }
    }

    /// Whether the deadline passes now (it was not disarmed).
    fileprivate func expire() -> Bool {
        state.withLock { state in
            if state == nil { state = false }
            return state == false
        }
    }
}

/// A continuation resumed once, by whichever of the work, the timer or a cancellation comes
/// first.
private final class ContinuationSlot<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
        var onResume: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func onResume(_ action: @escaping @Sendable () -> Void) {
        let done = state.withLock { state in
            if !state.done { state.onResume = action }
            return state.done
        }
        if done { action() }
    }

    /// Resumes the continuation unless something already has; returns whether this did.
    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        let taken: Taken? = state.withLock { state in
            guard !state.done else { return nil }
            state.done = true
            defer { state.onResume = nil }
            let taken = Taken(continuation: state.continuation, action: state.onResume)
            state.continuation = nil
            if taken.continuation == nil { state.early = result }
            return taken
        }
        guard let taken else { return false }
        taken.continuation?.resume(with: result)
        taken.action?()
        return true
    }

    private struct Taken {
        var continuation: CheckedContinuation<T, any Error>?
        var action: (@Sendable () -> Void)?
    }
}
