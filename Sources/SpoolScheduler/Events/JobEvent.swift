import SpoolCore

/// Something that happened to a job, for live followers (server-sent events, `spool watch`).
public struct JobEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// The job moved to a new state; `job` is the stored job after the change.
        case state(JobState)
        /// A chunk was handed to the encoder.
        case chunk(index: Int)
        /// Frames encoded so far.
        case encoded(frames: Int)
    }

    public var job: Job
    public var kind: Kind

    public init(job: Job, kind: Kind) {
        self.job = job
        self.kind = kind
    }
}
