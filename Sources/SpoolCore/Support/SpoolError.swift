/// Errors any part of Spool can raise about jobs, with messages a person can act on.
public enum SpoolError: Error, Hashable, Sendable, CustomStringConvertible {
    case jobNotFound(JobID)
    /// A transition the state machine forbids; never silently applied.
    case illegalTransition(job: JobID, from: JobState, to: JobState)
    /// An update from an attempt that is no longer the job's current one
    /// (its host lost the lease and another took over).
    case staleAttempt(job: JobID, attempt: Int, current: Int)
    case invalidSpec([ValidationIssue])
    /// A stored job this version cannot read (a newer version wrote it, or it was edited by
    /// hand); it names the job so a person can find the row.
    case unreadableJob(job: JobID, reason: String)

    public var description: String {
        switch self {
        case .jobNotFound(let id):
            "job \(id) not found"
        case .illegalTransition(let id, let from, let to):
            "job \(id) cannot go from \(from) to \(to)"
        case .staleAttempt(let id, let attempt, let current):
            "job \(id): attempt \(attempt) is stale (the job is on attempt \(current))"
        case .invalidSpec(let issues):
            "invalid job: " + issues.map(\.description).joined(separator: "; ")
        case .unreadableJob(let id, let reason):
            "job \(id) in the store cannot be read: \(reason)"
        }
    }
}
