import Foundation
import Logging
import ServiceLifecycle
import SpoolCore

/// Removes a job's live preview (its HLS playlist and segments) once the job has been over
/// for the retention period (`--live-retention-minutes`), and any preview whose job is gone.
/// The MP4 stays; the preview was for watching the job while it ran.
///
/// The same rule sweeps jobs' checkpoint folders (retention 0, every minute): a job's
/// execution removes them when the job ends, and this catches those of a host that died first.
public struct LiveSweeper: Service {
    let store: any JobStore
    let folder: String
    let retentionSeconds: Double
    let interval: Double
    let clock: any WallClock
    let logger: Logger

    public init(store: any JobStore, folder: String, retentionSeconds: Double, every interval: Double? = nil, clock: any WallClock, logger: Logger) {
        self.store = store
        self.folder = folder
        self.retentionSeconds = retentionSeconds
        self.interval = interval ?? min(60, max(1, retentionSeconds / 4))
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval) { await sweep() }
    }

    /// One pass; returns the jobs whose previews were removed.
    @discardableResult
    public func sweep() async -> [JobID] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed: [JobID] = []
        let cutoff = clock.now().addingTimeInterval(-retentionSeconds)
        for name in names {
            let id = JobID(name)
            do {
                let job = try await store.job(id)
                if let job, !job.state.isFinal || (job.timings.finishedAt ?? .distantFuture) > cutoff { continue }
                try FileManager.default.removeItem(atPath: folder + "/" + name)
                removed.append(id)
            } catch {
                logger.warning("could not sweep a job's folder", metadata: ["folder": "\(folder)", "job": "\(name)", "error": "\(error)"])
            }
        }
        return removed
    }
}
