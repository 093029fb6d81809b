import Foundation
import Synchronization

/// Fans job events out to any number of subscribers, each with a small buffer so a slow
/// follower loses intermediate progress, never the scheduler's time.
///
/// Events come from this host's own executions and, with a shared store, from other hosts
/// through `JobChangeRelay`: only for the jobs someone here follows (a subscriber of that
/// job, or ``follow(_:)``), since reading every job every host changes, on every host, made a
/// fleet's reads grow with its hosts (issue 33). The store's notice of a change this host made arrives too, a
/// moment before or after the host publishes the event itself, so the hub publishes each
/// store change once: a second event for the same change (the same job, attempt, state,
/// chunk count and kind) is dropped.
public final class JobEventHub: Sendable {
    private struct Subscriber {
        let job: JobID?
        let continuation: AsyncStream<JobEvent>.Continuation
    }

    private struct State {
        var subscribers: [UUID: Subscriber] = [:]
        /// The most recent changes published, oldest first, and the same as a set.
        var recent: [JobEvent.Change] = []
        var recentSet: Set<JobEvent.Change> = []
        /// Jobs followed apart from their subscribers, with how many follow each.
        var followed: [JobID: Int] = [:]
    }

    /// Changes remembered to drop a repeat: far more than a host publishes between a store
    /// change and its notice coming back.
    static let remembered = 4_096

    private let state = Mutex(State())

    public init() {}

    /// Events for one job, or for every job when `job` is nil. The stream ends when the
    /// caller stops iterating.
    public func subscribe(job: JobID? = nil, buffer: Int = 256) -> AsyncStream<JobEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: JobEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        let id = UUID()
        state.withLock { $0.subscribers[id] = Subscriber(job: job, continuation: continuation) }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Publishes `event`, unless it is a store change already published.
    public func publish(_ event: JobEvent) {
        let targets = state.withLock { state -> [AsyncStream<JobEvent>.Continuation] in
            if let change = event.change {
                guard state.recentSet.insert(change).inserted else { return [] }
                state.recent.append(change)
                if state.recent.count > Self.remembered {
                    state.recentSet.remove(state.recent.removeFirst())
                }
            }
            return state.subscribers.values.filter { $0.job == nil || $0.job == event.job.id }.map(\.continuation)
        }
        for continuation in targets { continuation.yield(event) }
    }

    /// Follows `job` wherever it runs: its changes on other hosts reach this hub's subscribers
    /// of every job until ``unfollow(_:)`` (the drop folder waits for its jobs' results so).
    public func follow(_ job: JobID) {
        state.withLock { $0.followed[job, default: 0] += 1 }
    }

    public func unfollow(_ job: JobID) {
        state.withLock { state in
            guard let count = state.followed[job] else { return }
            state.followed[job] = count > 1 ? count - 1 : nil
        }
    }

    /// Whether anyone here follows `job`: a subscriber of that job, or ``follow(_:)``.
    public func isFollowed(_ job: JobID) -> Bool {
        state.withLock { state in state.followed[job] != nil || state.subscribers.values.contains { $0.job == job } }
    }

    /// Whether the hub has published the event for `change` already.
    public func hasPublished(_ change: JobEvent.Change) -> Bool {
        state.withLock { $0.recentSet.contains(change) }
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
