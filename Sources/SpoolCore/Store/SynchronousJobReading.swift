/// A store that can read one job without suspending, because the read is a local file and
/// takes microseconds, not a network round trip.
///
/// The HTTP server answers `GET /v1/jobs/{id}` from it in the channel pipeline, on the event
/// loop that read the request, instead of handing each poll to a task and back.
public protocol SynchronousJobReading: Sendable {
    /// The job and, while it is queued, how many jobs are ahead of it; nil if there is no such job.
    func jobWithPositionNow(_ id: JobID) throws -> (job: Job, queuePosition: Int?)?
}
