import Foundation

extension JobUpdate {
    /// The rules every ``JobStore`` enforces before applying an update to a job that is in
    /// `state` on attempt `attempts`; stores call this with the row they have locked.
    ///
    /// - Throws: ``SpoolError/staleAttempt(job:attempt:current:)`` when the update comes
    ///   from an attempt the job has moved past, ``SpoolError/illegalTransition(job:from:to:)``
    ///   for a transition the state machine forbids or a change to a final job.
    public func check(job id: JobID, state: JobState, attempts: Int, to newState: JobState?) throws(SpoolError) {
        if let attempt, attempt != attempts {
            throw .staleAttempt(job: id, attempt: attempt, current: attempts)
        }
        if let newState {
            guard state.canTransition(to: newState) else {
                throw .illegalTransition(job: id, from: state, to: newState)
            }
        } else if state.isFinal && endAttempt == nil {
            // A final job changes no more, except to close the books on an attempt that was
            // still running when it was cancelled (its slot time is known only afterwards).
            throw .illegalTransition(job: id, from: state, to: state)
        }
    }
}

extension RecoveryRequest {
    /// How a store takes back an active job whose host is gone: the state it moves to and
    /// the update that records the lost attempt.
    ///
    /// - Parameters:
    ///   - lostAttemptSpan: the running attempt's start and last heartbeat (seconds since
    ///     1970), or nil when the attempt is no longer running; the slot time charged is
    ///     the span between them.
    public func takeBack(
        state: JobState, attempts: Int, sparedAttempts: Int, maxAttempts: Int, host: String,
        lostAttemptSpan: (startedAt: Double, heartbeatAt: Double?)?
    ) -> (to: JobState, update: JobUpdate) {
        let stage = state == .running ? "generating" : "encoding"
        let why = if restartedHost == host && startedBefore != nil {
            "host \(host) no longer ran attempt \(attempts), which the store still said was \(stage) (its outcome was never recorded)"
        } else if restartedHost == host {
            "host \(host) restarted while attempt \(attempts) was \(stage)"
        } else {
            "host \(host) stopped renewing its lease during attempt \(attempts)"
        }
        // A lost attempt held its slot from its start until the host's last heartbeat.
        let seconds = lostAttemptSpan.map { max(0, ($0.heartbeatAt ?? $0.startedAt) - $0.startedAt) } ?? 0
        // A lost attempt counts: a job that takes its host down with it must not do so for ever.
        // Unless its host last renewed while the store was out of reach (of the host taking
        // it back too): then the outage lost it, and a job must not fail for an outage
        // (issue 27; a host slow to reconnect after PostgreSQL's return lost its attempts so).
        let lastSign = lostAttemptSpan.map { $0.heartbeatAt ?? $0.startedAt }
        let outage = outageEndedAt.flatMap { end in lastSign.map { $0 < end.timeIntervalSince1970 } } ?? false
        let exhausted = attempts - sparedAttempts - (outage ? 1 : 0) >= maxAttempts
        let reason = outage ? "\(why) while the store was out of reach (not counted)" : why
        let update = JobUpdate(
            at: now, error: exhausted ? "\(reason); all \(maxAttempts) attempts used" : reason,
            notBefore: exhausted ? nil : retryAfter, endAttempt: .lost, attemptGPUSeconds: seconds, spareAttempt: outage)
        return (exhausted ? .failed : .queued, update)
    }
}

/// What removing a job takes, for both stores: only a final job whose attempts have all
/// closed their books, and everything that refers to it.
public enum JobDeletion {
    /// The statements, each binding the job's id once (`?`).
    public static let statements = [
        "DELETE FROM webhook_deliveries WHERE job_id = ?",
        "DELETE FROM attempts WHERE job_id = ?",
        "DELETE FROM jobs WHERE id = ?",
    ]

    public static func check(_ job: Job, runningAttempts: Int) throws(SpoolError) {
        guard job.state.isFinal, runningAttempts == 0 else {
            throw SpoolError.illegalTransition(job: job.id, from: job.state, to: job.state)
        }
    }
}
