import Foundation

/// One heartbeat of a host, asked of the store as one request (issue 33): a fleet's database
/// work per heartbeat is then one statement and one commit per host, whatever else the host
/// needs to know. The store renews the host's leases, its running attempts' heartbeats and its
/// registry row (with what its free slots can run, where the store sends wake-ups), and answers
/// with everything the host used to read apart: where each of its attempts stands, and whether
/// there is anything to recover, to settle or to claim.
public struct Heartbeat: Sendable, Hashable {
    public var host: String
    /// The new end of the lease of every job the host runs.
    public var leaseUntil: Date
    public var now: Date
    /// The newest attempt the host runs of each job: the report says where each stands.
    public var running: [JobID: Int]
    /// Jobs the host holds (running, or whose outcome it keeps until the store takes it): the
    /// store's record of any other job as running here is an orphan.
    public var keeping: Set<JobID>
    /// Free slots, the pipelines they can run, and the resident pipelines whose model is ready
    /// on one: a shared store sends each new job's wake-up to one host that can take it.
    public var freeSlots: Int
    public var idlePipelines: Set<String>
    public var readyPipelines: Set<String>
    /// A job submitted since this moment (a heartbeat ago) does not count as waiting: its
    /// wake-up is on the way to a host, and a fleet's heartbeats, a few hundred a second,
    /// would otherwise all claim for it. A job whose retry delay has passed counts at once:
    /// its wake-up came when it was requeued, too early to take it.
    public var waitingSince: Date

    public init(
        host: String, leaseUntil: Date, now: Date, running: [JobID: Int] = [:], keeping: Set<JobID> = [], freeSlots: Int = 0,
        idlePipelines: Set<String> = [], readyPipelines: Set<String> = [], waitingSince: Date? = nil
    ) {
        self.waitingSince = waitingSince ?? now
        self.host = host
        self.leaseUntil = leaseUntil
        self.now = now
        self.running = running
        self.keeping = keeping
        self.freeSlots = freeSlots
        self.idlePipelines = idlePipelines
        self.readyPipelines = readyPipelines
    }
}

/// What the store answered a heartbeat.
public struct HeartbeatReport: Sendable, Hashable {
    /// Each job of ``Heartbeat/running`` as the store has it now; one the store no longer
    /// has is absent.
    public var standings: [JobID: JobStanding]
    /// Some host's job has a lease that ran out before `now`: recovery has a job to take back.
    public var expiredLeases: Bool
    /// The store records as active on this host a job claimed before `now` that
    /// ``Heartbeat/keeping`` does not name: one to settle.
    public var orphans: Bool
    /// A queued job of one of ``Heartbeat/idlePipelines`` waits: submitted before
    /// ``Heartbeat/waitingSince`` (its wake-up went astray), or its retry delay passed. A
    /// free slot here may take it. Only with free slots.
    public var workWaiting: Bool

    public init(standings: [JobID: JobStanding] = [:], expiredLeases: Bool = false, orphans: Bool = false, workWaiting: Bool = false) {
        self.standings = standings
        self.expiredLeases = expiredLeases
        self.orphans = orphans
        self.workWaiting = workWaiting
    }
}

/// Where a job stands in the store, as a host running one of its attempts needs to know.
public struct JobStanding: Sendable, Hashable {
    public var state: JobState
    public var host: String?
    /// The job's newest attempt.
    public var attempt: Int

    public init(state: JobState, host: String?, attempt: Int) {
        self.state = state
        self.host = host
        self.attempt = attempt
    }

    /// Why the store no longer gives `attempt` on `host` the job: nil while it does. The one
    /// rule of reconciling (issue 27): cancelled by anyone, or taken over by another host or a
    /// newer attempt after its lease ran out.
    public func stop(attempt: Int, on host: String) -> AttemptStop? {
        if state == .cancelled { return .cancelled }
        if self.host != host || !state.isActive || self.attempt != attempt {
            return .taken("the store took attempt \(attempt) back; the job is now attempt \(self.attempt) on host \(self.host ?? "none")")
        }
        return nil
    }

    public enum AttemptStop: Sendable, Hashable {
        case cancelled
        case taken(String)
    }
}
