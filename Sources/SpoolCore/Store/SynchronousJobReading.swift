/// A store that can read one job without suspending, because the read is a local file and
/// takes microseconds, not a network round trip.
///
/// The HTTP server answers `GET /v1/jobs/{id}` from it in the channel pipeline, on the event
/// loop that read the request, instead of handing each poll to a task and back.
public protocol SynchronousJobReading: Sendable {
    /// The job and, while it is queued, its place among the queued jobs of `scope`; nil if
    /// there is no such job.
    func jobWithPositionNow(_ id: JobID, scope: QueueScope) throws -> (job: Job, queuePosition: Int?)?
}

extension SynchronousJobReading {
    /// Its place in the whole queue.
    public func jobWithPositionNow(_ id: JobID) throws -> (job: Job, queuePosition: Int?)? {
        try jobWithPositionNow(id, scope: .everyone)
    }
}

/// Whose queued jobs a queue position counts.
public enum QueueScope: Sendable, Hashable {
    /// Every job: the place in the whole queue.
    case everyone
    /// Only jobs of the job's own tenant: what a tenant that sees only its own jobs is told,
    /// so the queue's other tenants do not show through.
    case sameTenant
}
