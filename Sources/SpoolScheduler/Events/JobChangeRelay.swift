import Logging
import ServiceLifecycle
import SpoolCore

/// Carries changes made on other hosts sharing the store into this host's event hub, so
/// that a job submitted here and run elsewhere is followed here as if it ran here: its
/// server-sent events stream on, and the drop folder writes its result.
///
/// Only the jobs someone here follows (``JobEventHub/isFollowed(_:)``): the relay tells the
/// store which (``JobStore/follow(_:host:_:)``), and a shared store sends a job's changes only
/// while some host follows it. Every host hearing, and reading, every change of every job was a
/// fleet's work growing with its hosts (issue 33). A job followed from now on is read once
/// when the store has the follow, so a change made before that is not missed; so is every
/// followed job when the relay listens again after losing the store.
///
/// Each notice is published once (see ``JobEventHub``): a change this host made and already
/// published is skipped without reading the store.
public struct JobChangeRelay: Service {
    let store: any JobStore
    let events: JobEventHub
    let host: String
    let logger: Logger

    public init(store: any JobStore, events: JobEventHub, host: String, logger: Logger) {
        self.store = store
        self.events = events
        self.host = host
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await store.unfollowAll(host: host)
        } catch {
            logger.warning("could not forget the jobs this host's previous run followed", metadata: ["error": "\(error)"])
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await following in events.followings().cancelOnGracefulShutdown() {
                    await tell(following)
                }
            }
            var listened = false
            for await notice in store.jobChanges().cancelOnGracefulShutdown() {
                switch notice {
                case .listening:
                    logger.info("following job changes from other hosts")
                    // Listening again after losing the store: what changed meanwhile was not heard.
                    if listened { for job in events.followedJobs { await tell(JobEventHub.Following(job: job, followed: true)) } }
                    listened = true
                case .changed(let change):
                    guard events.isFollowed(change.id), !events.hasPublished(JobEvent.Change(change)) else { continue }
                    await relay(change.id) { job in
                        switch change.kind {
                        case .chunk where job.state == change.state && job.attempts == change.attempt:
                            .chunk(index: max(0, job.progress.chunksDone - 1))
                        case .state, .chunk:
                            .state(job.state)
                        }
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// Tells the store of a job followed or left; a job followed is then read once.
    private func tell(_ following: JobEventHub.Following) async {
        do {
            try await store.follow(following.job, host: host, following.followed)
        } catch {
            logger.warning("could not tell the store which job this host follows", metadata: ["job": "\(following.job)", "error": "\(error)"])
        }
        guard following.followed else { return }
        await relay(following.job) { job in job.host != host && job.state != .queued ? .state(job.state) : nil }
    }

    /// Reads the job as it is now and publishes `kind(job)`: later than the change, when it
    /// has moved on since. Its state event is the one to publish then, so no follower misses
    /// the end.
    private func relay(_ id: JobID, _ kind: (Job) -> JobEvent.Kind?) async {
        let job: Job
        do {
            guard let found = try await store.job(id) else { return }
            job = found
        } catch {
            logger.warning("could not read a job another host changed", metadata: ["job": "\(id)", "error": "\(error)"])
            return
        }
        if let kind = kind(job) { events.publish(JobEvent(job: job, kind: kind)) }
    }
}
