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
        /// Jobs followed, with how many follow each (their subscribers and ``follow(_:)``s).
        var followers: [JobID: Int] = [:]
        /// Where a job's first follower and its last one's leaving are told (the relay).
        var following: AsyncStream<Following>.Continuation?

        /// Counts a follower of `job` in or out; the change to tell, if it is the first or the last.
        mutating func count(_ job: JobID, _ delta: Int) -> (AsyncStream<Following>.Continuation, Following)? {
            let before = followers[job] ?? 0
            let after = max(0, before + delta)
            followers[job] = after == 0 ? nil : after
            guard (before == 0) != (after == 0), let following else { return nil }
            return (following, Following(job: job, followed: after > 0))
        }
    }

    /// A job followed by its first follower here, or left by its last.
    public struct Following: Sendable, Hashable {
        public var job: JobID
        public var followed: Bool

        public init(job: JobID, followed: Bool) {
            self.job = job
            self.followed = followed
        }
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
        let told = state.withLock { state in
            state.subscribers[id] = Subscriber(job: job, continuation: continuation)
            return job.flatMap { state.count($0, 1) }
        }
        if let (following, change) = told { following.yield(change) }
        continuation.onTermination = { [weak self] _ in
            let told = self?.state.withLock { state in
                state.subscribers.removeValue(forKey: id)
                return job.flatMap { state.count($0, -1) }
            }
            if let (following, change) = told ?? nil { following.yield(change) }
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
        if let (following, change) = state.withLock({ $0.count(job, 1) }) { following.yield(change) }
    }

    public func unfollow(_ job: JobID) {
        if let (following, change) = state.withLock({ $0.count(job, -1) }) { following.yield(change) }
    }

    /// The jobs followed here now.
    public var followedJobs: [JobID] { state.withLock { Array($0.followers.keys) } }

    /// Whether anyone here follows `job`: a subscriber of that job, or ``follow(_:)``.
    public func isFollowed(_ job: JobID) -> Bool {
        state.withLock { $0.followers[job] != nil }
    }

    /// Each job's first follower here and its last one's leaving, starting with the jobs
    /// followed now: what the relay tells a shared store, which sends a job's changes only
    /// while someone follows it. One consumer; a second call replaces the first.
    public func followings() -> AsyncStream<Following> {
        let (stream, continuation) = AsyncStream.makeStream(of: Following.self)
        state.withLock { state in
            state.following?.finish()
            state.following = continuation
            for job in state.followers.keys { continuation.yield(Following(job: job, followed: true)) }
        }
        return stream
    }

    /// Whether the hub has published the event for `change` already.
    public func hasPublished(_ change: JobEvent.Change) -> Bool {
        state.withLock { $0.recentSet.contains(change) }
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
