import Logging
import ServiceLifecycle
import SpoolCore

/// Carries changes made on other hosts sharing the store into this host's event hub, so
/// that a job submitted here and run elsewhere is followed here as if it ran here: its
/// server-sent events stream on, and the drop folder writes its result. Only the changes of
/// jobs someone here follows are read and published (``JobEventHub/isFollowed(_:)``): every
/// host reading every change of every job was a read per host and change (issue 33).
///
/// Each notice is published once (see ``JobEventHub``): a change this host made and already
/// published is skipped without reading the store.
public struct JobChangeRelay: Service {
    let store: any JobStore
    let events: JobEventHub
    let logger: Logger

    public init(store: any JobStore, events: JobEventHub, logger: Logger) {
        self.store = store
        self.events = events
        self.logger = logger
    }

    public func run() async throws {
        for await notice in store.jobChanges().cancelOnGracefulShutdown() {
            switch notice {
            case .listening:
                logger.info("following job changes from other hosts")
            case .changed(let change):
                guard events.isFollowed(change.id), !events.hasPublished(JobEvent.Change(change)) else { continue }
                await relay(change)
            }
        }
    }

    private func relay(_ change: JobChange) async {
        let job: Job
        do {
            guard let found = try await store.job(change.id) else { return }
            job = found
        } catch {
            logger.warning("could not read a job another host changed", metadata: ["job": "\(change.id)", "error": "\(error)"])
            return
        }
        // The job as it is now: later than the change, when it has moved on since. Its state
        // event is the one to publish then, so no follower misses the end.
        switch change.kind {
        case .state:
            events.publish(JobEvent(job: job, kind: .state(job.state)))
        case .chunk where job.state == change.state && job.attempts == change.attempt:
            events.publish(JobEvent(job: job, kind: .chunk(index: max(0, job.progress.chunksDone - 1))))
        case .chunk:
            events.publish(JobEvent(job: job, kind: .state(job.state)))
        }
    }
}
