
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

    /// The store change an event reports, which any host can see: the same change reported
    /// twice (by the host that made it and by the store's notice of it) is one event.
    public struct Change: Sendable, Hashable {
        public var job: JobID
        public var attempt: Int
        public var state: JobState
        public var chunksDone: Int
        public var kind: JobChange.Kind

        public init(_ change: JobChange) {
            job = change.id
            attempt = change.attempt
            state = change.state
            chunksDone = change.chunksDone
            kind = change.kind
        }

        init(job: Job, kind: JobChange.Kind) {
            self.job = job.id
            attempt = job.attempts
            state = job.state
            chunksDone = job.progress.chunksDone
            self.kind = kind
        }
    }

    public var job: Job
    public var kind: Kind

    public init(job: Job, kind: Kind) {
        self.job = job
        self.kind = kind
    }

    /// The store change this event reports; nil for encoder progress, which is not stored.
    public var change: Change? {
        switch kind {
        case .state: Change(job: job, kind: .state)
        case .chunk: Change(job: job, kind: .chunk)
        case .encoded: nil
        }
    }
}
