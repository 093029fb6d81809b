import Foundation
import SpoolCore
import Synchronization

/// Fans job events out to any number of subscribers, each with a small buffer so a slow
/// follower loses intermediate progress, never the scheduler's time.
public final class JobEventHub: Sendable {
    private struct Subscriber {
        let job: JobID?
        let continuation: AsyncStream<JobEvent>.Continuation
    }

    private let subscribers = Mutex<[UUID: Subscriber]>([:])

    public init() {}

    /// Events for one job, or for every job when `job` is nil. The stream ends when the
    /// caller stops iterating.
    public func subscribe(job: JobID? = nil, buffer: Int = 256) -> AsyncStream<JobEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: JobEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        let id = UUID()
        subscribers.withLock { $0[id] = Subscriber(job: job, continuation: continuation) }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    public func publish(_ event: JobEvent) {
        let targets = subscribers.withLock { all in
            all.values.filter { $0.job == nil || $0.job == event.job.id }.map(\.continuation)
        }
        for continuation in targets { continuation.yield(event) }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }
}
