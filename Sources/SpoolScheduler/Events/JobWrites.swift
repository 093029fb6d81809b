import SpoolCore

/// The one place a change to a job is written and published together: each write goes to
/// the store first and, once the store has taken it, out to this host's followers (event
/// streams, the drop folder, webhooks' wake-ups) as the event it is. Nothing that changes a
/// job's state or progress writes to the store any other way, so no change is published
/// that was not stored, and none stored goes unpublished here.
///
/// A store shared with other hosts tells this one of its own changes too (PostgreSQL's
/// notification comes back): ``JobEventHub`` publishes each change once, whichever arrives
/// first.
public struct JobWrites: Sendable {
    public let store: any JobStore
    public let events: JobEventHub

    public init(store: any JobStore, events: JobEventHub) {
        self.store = store
        self.events = events
    }

    /// Applies `update` (and the move to `state`); announces the state, or the chunk
    /// `announcing` was written.
    @discardableResult
    public func update(_ id: JobID, to state: JobState?, _ update: JobUpdate, announcing chunk: Int? = nil) async throws -> Job {
        let job = try await store.update(id, to: state, update)
        if let state {
            events.publish(JobEvent(job: job, kind: .state(state)))
        } else if let chunk {
            events.publish(JobEvent(job: job, kind: .chunk(index: chunk)))
        }
        return job
    }

    /// Claims the best runnable job; announces it running.
    public func claimNext(_ request: ClaimRequest) async throws -> Job? {
        guard let job = try await store.claimNext(request) else { return nil }
        events.publish(JobEvent(job: job, kind: .state(.running)))
        return job
    }

    /// Hands a claim back untouched; announces the job queued again.
    @discardableResult
    public func releaseClaim(_ id: JobID, attempt: Int, _ release: ClaimRelease) async throws -> Job {
        let job = try await store.releaseClaim(id, attempt: attempt, release)
        events.publish(JobEvent(job: job, kind: .state(.queued)))
        return job
    }

    /// Takes back jobs whose host is gone; announces each in the state it moved to.
    public func recoverLostJobs(_ request: RecoveryRequest) async throws -> [Job] {
        let jobs = try await store.recoverLostJobs(request)
        for job in jobs { events.publish(JobEvent(job: job, kind: .state(job.state))) }
        return jobs
    }
}
