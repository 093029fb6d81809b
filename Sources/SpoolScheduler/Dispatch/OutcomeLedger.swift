import Foundation
import Logging
import SpoolCore

/// Writes how attempts end (generated, succeeded, failed, requeued, cancelled), and keeps
/// every outcome the store will not take until it does: a job's end is never lost.
///
/// A write that fails for a reason that may pass (a full disk, a database restarting) is
/// tried again for about six seconds; after that the outcome is kept here, in order with any
/// later outcome of the same job, and written at each heartbeat until the store accepts it,
/// and once more on shutdown. Meanwhile the job stays `running` in the store, held by no
/// execution: the host's reconciler leaves it alone (see ``pendingJobs``), and a host that
/// dies with outcomes kept settles them as lost at its next start.
actor OutcomeLedger {
    /// What became of a write.
    enum Written: Sendable {
        case written(Job)
        /// The store moved on without this attempt (cancelled, or taken over): nothing to write.
        case refused(SpoolError)
        /// Kept, to be written when the store accepts writes again.
        case kept
    }

    private struct Entry: Sendable {
        var state: JobState?
        var update: JobUpdate
    }

    /// Where outcomes are written and published.
    nonisolated let writes: JobWrites
    private let statistics: SchedulerStatistics
    private let logger: Logger
    /// Waits between tries of a failing write before it is kept: 0.2 s doubling, about 6 s in all.
    private let retryDelays: [Double]
    private var pending: [JobID: [Entry]] = [:]

    init(
        writes: JobWrites, statistics: SchedulerStatistics, logger: Logger, retryDelays: [Double] = [0.2, 0.4, 0.8, 1.6, 3.2]
    ) {
        self.writes = writes
        self.statistics = statistics
        self.logger = logger
        self.retryDelays = retryDelays
    }

    /// Jobs with an outcome not yet written.
    var pendingJobs: Set<JobID> { Set(pending.keys) }

    /// Writes `update` (and the move to `state`) to job `id`, announcing a state change.
    func write(_ id: JobID, to state: JobState?, _ update: JobUpdate) async -> Written {
        let entry = Entry(state: state, update: update)
        if pending[id] != nil {
            // An earlier outcome of this job is still kept: this one waits behind it.
            pending[id]!.append(entry)
            statistics.setPendingOutcomes(pending.values.reduce(0) { $0 + $1.count })
            return .kept
        }
        for (try_, delay) in zip(0..., retryDelays.map(Optional.some) + [nil]) {
            switch await attempt(id, entry) {
            case .success(let job):
                return .written(job)
            case .failure(let error):
                if case let spool as SpoolError = error { return .refused(spool) }
                statistics.recordStoreWriteFailure()
                guard let delay else {
                    keep(id, entry, error: error)
                    return .kept
                }
                logger.warning("store update failed; retrying", metadata: [
                    "job": "\(id)", "to": "\(state.map(\.rawValue) ?? "(same state)")", "error": "\(error)",
                    "try": "\(try_ + 1)", "retryIn": "\(delay)",
                ])
                try? await Task.sleep(for: .seconds(delay))
            }
        }
        return .kept
    }

    /// Writes every kept outcome the store now accepts, in order per job.
    func flush() async {
        for id in pending.keys.sorted() {
            while let entry = pending[id]?.first {
                switch await attempt(id, entry) {
                case .success:
                    logger.notice("wrote a kept outcome", metadata: ["job": "\(id)", "to": "\(entry.state.map(\.rawValue) ?? "(same state)")"])
                case .failure(let error) where !(error is SpoolError):
                    statistics.recordStoreWriteFailure()
                    return
                case .failure(let error):
                    logger.warning("a kept outcome no longer applies", metadata: ["job": "\(id)", "error": "\(error)"])
                }
                pending[id]!.removeFirst()
                if pending[id]!.isEmpty { pending[id] = nil }
            }
        }
        statistics.setPendingOutcomes(pending.values.reduce(0) { $0 + $1.count })
    }

    private func attempt(_ id: JobID, _ entry: Entry) async -> Result<Job, any Error> {
        do {
            return .success(try await writes.update(id, to: entry.state, entry.update))
        } catch {
            return .failure(error)
        }
    }

    private func keep(_ id: JobID, _ entry: Entry, error: any Error) {
        pending[id, default: []].append(entry)
        statistics.setPendingOutcomes(pending.values.reduce(0) { $0 + $1.count })
        logger.error("the store refuses writes; the outcome is kept and will be written when it accepts them again", metadata: [
            "job": "\(id)", "to": "\(entry.state.map(\.rawValue) ?? "(same state)")", "error": "\(error)",
        ])
    }
}
