import Foundation
import SpoolCore
import SpoolSQLite
import SpoolTesting
import Testing

@Suite("SQLite job store")
struct SQLiteJobStoreTests {
    let dir: TemporaryDirectory
    let store: SQLiteJobStore
    let clock = ManualWallClock()

    init() throws {
        dir = try TemporaryDirectory("sqlite-store")
        store = try SQLiteJobStore(path: dir.file("spool.sqlite"))
    }

    func claim(_ gpu: String = "gpu0", host: String = "h1", pipelines: Set<String> = ["synthetic"]) async throws -> Job? {
        try await store.claimNext(ClaimRequest(
            host: host, gpu: gpu, pipelines: pipelines, now: clock.now(), leaseUntil: clock.now().addingTimeInterval(30)))
    }

    @Test func enqueuedJobsRoundTrip() async throws {
        var spec = Fixtures.spec()
        spec.labels = ["team": "video"]
        spec.negativePrompt = "blurry"
        let result = try await store.enqueue(Fixtures.request(spec, at: clock.now()))
        #expect(result.created)
        let loaded = try #require(try await store.job(result.job.id))
        #expect(loaded == result.job)
        #expect(loaded.spec == spec)
        #expect(loaded.state == .queued)
        #expect(loaded.progress.framesTotal == 48)
        #expect(loaded.timings.submittedAt == clock.now())
        #expect(try await store.job(JobID("missing")) == nil)
    }

    @Test func anIdempotencyKeyReturnsTheExistingJob() async throws {
        let first = try await store.enqueue(Fixtures.request(Fixtures.spec(idempotencyKey: "k1")))
        let second = try await store.enqueue(Fixtures.request(Fixtures.spec(frames: 96, idempotencyKey: "k1")))
        #expect(first.created && !second.created)
        #expect(second.job.id == first.job.id)
        #expect(second.job.spec.frames == 48)
        let batch = try await store.enqueueAll([
            Fixtures.request(Fixtures.spec(idempotencyKey: "k2")), Fixtures.request(Fixtures.spec(idempotencyKey: "k2")),
        ])
        #expect(batch.map(\.created) == [true, false])
        #expect(batch[0].job.id == batch[1].job.id)
        #expect(try await store.countsByState()[.queued] == 2)
    }

    @Test func claimsTakeHighestPriorityThenOldest() async throws {
        var ids: [Int: JobID] = [:]
        for (n, priority) in [0, 5, 0, 5, -3].enumerated() {
            ids[n] = try await store.enqueue(Fixtures.request(Fixtures.spec(priority: priority))).job.id
        }
        var order: [JobID] = []
        while let job = try await claim() { order.append(job.id) }
        #expect(order == [ids[1]!, ids[3]!, ids[0]!, ids[2]!, ids[4]!])
    }

    @Test func claimingMarksTheJobRunningWithANewAttempt() async throws {
        let id = try await store.enqueue(Fixtures.request()).job.id
        let job = try #require(try await claim("gpu3", host: "hostA"))
        #expect(job.id == id)
        #expect(job.state == .running)
        #expect(job.attempts == 1)
        #expect(job.gpu == "gpu3" && job.host == "hostA")
        #expect(job.timings.startedAt == clock.now())
        #expect(job.leaseExpiresAt == clock.now().addingTimeInterval(30))
        let attempts = try await store.attempts(of: id)
        #expect(attempts.count == 1)
        #expect(attempts[0].outcome == .running && attempts[0].gpu == "gpu3")
        #expect(try await claim() == nil)
    }

    @Test func claimsSkipOtherPipelinesAndBackedOffJobs() async throws {
        let cuda = try await store.enqueue(Fixtures.request(Fixtures.spec(pipeline: "helios"))).job.id
        #expect(try await claim(pipelines: ["synthetic"]) == nil)
        #expect(try await claim(pipelines: ["helios"])?.id == cuda)
        #expect(try await claim(pipelines: []) == nil)
    }

    @Test func backoffDelaysARetryUntilNotBefore() async throws {
        let id = try await store.enqueue(Fixtures.request()).job.id
        let job = try #require(try await claim())
        try await store.update(id, to: .queued, JobUpdate(
            attempt: job.attempts, at: clock.now(), error: "worker crashed",
            notBefore: clock.now().addingTimeInterval(10), endAttempt: .failed, attemptGPUSeconds: 4))
        #expect(try await claim() == nil)
        clock.advance(by: 10)
        let retried = try #require(try await claim())
        #expect(retried.attempts == 2)
        #expect(retried.gpuSeconds == 4)
        #expect(try await store.attempts(of: id).map(\.outcome) == [.failed, .running])
    }

    @Test func illegalTransitionsAreErrorsAndChangeNothing() async throws {
        let id = try await store.enqueue(Fixtures.request()).job.id
        await #expect(throws: SpoolError.illegalTransition(job: id, from: .queued, to: .succeeded)) {
            try await store.update(id, to: .succeeded, JobUpdate(at: clock.now()))
        }
        await #expect(throws: SpoolError.illegalTransition(job: id, from: .queued, to: .encoding)) {
            try await store.update(id, to: .encoding, JobUpdate(at: clock.now()))
        }
        try await store.update(id, to: .cancelled, JobUpdate(at: clock.now()))
        await #expect(throws: SpoolError.illegalTransition(job: id, from: .cancelled, to: .queued)) {
            try await store.update(id, to: .queued, JobUpdate(at: clock.now()))
        }
        await #expect(throws: SpoolError.illegalTransition(job: id, from: .cancelled, to: .cancelled)) {
            try await store.update(id, to: nil, JobUpdate(at: clock.now(), progress: JobProgress(framesTotal: 1)))
        }
        await #expect(throws: SpoolError.jobNotFound(JobID("nope"))) {
            try await store.update(JobID("nope"), to: .cancelled, JobUpdate(at: clock.now()))
        }
        #expect(try await store.job(id)?.state == .cancelled)
    }

    @Test func aFullLifecycleRecordsEveryStageAndItsCost() async throws {
        let id = try await store.enqueue(Fixtures.request(at: clock.now())).job.id
        clock.advance(by: 2)
        let job = try #require(try await claim())
        clock.advance(by: 1)
        try await store.update(id, to: nil, JobUpdate(
            attempt: 1, at: clock.now(), progress: JobProgress(framesDone: 33, framesTotal: 48, chunksDone: 1, chunksTotal: 2),
            firstChunkAt: clock.now()))
        clock.advance(by: 3)
        try await store.update(id, to: .encoding, JobUpdate(
            attempt: job.attempts, at: clock.now(), generatedAt: clock.now(), endAttempt: .generated, attemptGPUSeconds: 4))
        clock.advance(by: 0.5)
        let done = try await store.update(id, to: .succeeded, JobUpdate(
            attempt: 1, at: clock.now(), encodedAt: clock.now(), outputPath: "/out/x.mp4", posterPath: "/out/x.jpg"))
        #expect(done.state == .succeeded)
        #expect(done.timings.queueWait == 2)
        #expect(done.timings.timeToFirstChunk == 1)
        #expect(done.timings.generationTime == 4)
        #expect(done.timings.encodeTail == 0.5)
        #expect(done.timings.totalLatency == 6.5)
        #expect(done.gpuSeconds == 4)
        #expect(done.realTimeFactor == 48.0 / 24 / 4)
        #expect(done.outputPath == "/out/x.mp4")
        #expect(done.leaseExpiresAt == nil)
        #expect(try await store.attempts(of: id).map(\.outcome) == [.generated])
    }

    @Test func updatesFromAStaleAttemptAreRejected() async throws {
        let id = try await store.enqueue(Fixtures.request()).job.id
        _ = try await claim()
        try await store.update(id, to: .queued, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .lost))
        _ = try await claim()
        await #expect(throws: SpoolError.staleAttempt(job: id, attempt: 1, current: 2)) {
            try await store.update(id, to: .encoding, JobUpdate(attempt: 1, at: clock.now()))
        }
    }

    @Test func endingAnAttemptTwiceCountsItsSlotTimeOnce() async throws {
        let id = try await store.enqueue(Fixtures.request()).job.id
        _ = try await claim()
        try await store.update(id, to: .encoding, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .generated, attemptGPUSeconds: 3))
        let job = try await store.update(id, to: .failed, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .failed, attemptGPUSeconds: 3))
        #expect(job.gpuSeconds == 3)
    }

    @Test func listingFiltersAndPages() async throws {
        var ids: [JobID] = []
        for _ in 0..<7 { ids.append(try await store.enqueue(Fixtures.request()).job.id) }
        try await store.update(ids[2], to: .cancelled, JobUpdate(at: clock.now()))
        let first = try await store.list(JobQuery(states: [.queued], limit: 4))
        #expect(first.jobs.map(\.id) == [ids[6], ids[5], ids[4], ids[3]])
        let second = try await store.list(JobQuery(states: [.queued], limit: 4, cursor: first.nextCursor))
        #expect(second.jobs.map(\.id) == [ids[1], ids[0]])
        #expect(second.nextCursor == nil)
        #expect(try await store.list(JobQuery(states: [.cancelled])).jobs.map(\.id) == [ids[2]])
        #expect(try await store.list(JobQuery(pipeline: "helios")).jobs.isEmpty)
        #expect(try await store.list(JobQuery()).jobs.count == 7)
    }

    @Test func queuePositionsFollowClaimOrder() async throws {
        let low = try await store.enqueue(Fixtures.request(Fixtures.spec(priority: -1))).job.id
        let a = try await store.enqueue(Fixtures.request()).job.id
        let high = try await store.enqueue(Fixtures.request(Fixtures.spec(priority: 9))).job.id
        let b = try await store.enqueue(Fixtures.request()).job.id
        #expect(try await store.queuePosition(of: high) == 1)
        #expect(try await store.queuePosition(of: a) == 2)
        #expect(try await store.queuePosition(of: b) == 3)
        #expect(try await store.queuePosition(of: low) == 4)
        _ = try await claim()
        #expect(try await store.queuePosition(of: high) == nil)
        #expect(try await store.queuePosition(of: a) == 1)
    }

    @Test func concurrentClaimersAcrossConnectionsNeverShareAJob() async throws {
        let jobCount = 300
        _ = try await store.enqueueAll((0..<jobCount).map { _ in Fixtures.request() })
        // A second store on the same file stands in for a second process.
        let other = try SQLiteJobStore(path: dir.file("spool.sqlite"))
        let stores = [store, other]
        let claimed = try await withThrowingTaskGroup(of: [JobID].self) { group in
            for claimer in 0..<8 {
                let store = stores[claimer % 2]
                group.addTask {
                    var mine: [JobID] = []
                    while let job = try await store.claimNext(ClaimRequest(
                        host: "h\(claimer)", gpu: "gpu\(claimer)", pipelines: ["synthetic"], now: Date(),
                        leaseUntil: Date().addingTimeInterval(30))) {
                        mine.append(job.id)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == jobCount)
        #expect(Set(claimed).count == jobCount)
        #expect(try await store.countsByState()[.running] == jobCount)
    }

    @Test func aStoreReopenedAfterAnUncleanCloseRequeuesWhatItsHostLeftRunning() async throws {
        let path = dir.file("crash.sqlite")
        var ids: [JobID] = []
        do {
            // The first "process" claims three jobs, heartbeats, then vanishes without closing.
            let crashed = try SQLiteJobStore(path: path)
            for attempts in [3, 1, 3] {
                ids.append(try await crashed.enqueue(Fixtures.request(maxAttempts: attempts)).job.id)
            }
            for gpu in ["gpu0", "gpu1"] {
                _ = try await crashed.claimNext(ClaimRequest(
                    host: "h1", gpu: gpu, pipelines: ["synthetic"], now: clock.now(), leaseUntil: clock.now() + 30))
            }
            clock.advance(by: 5)
            try await crashed.renewLeases(host: "h1", until: clock.now() + 30, now: clock.now())
            let third = try #require(try await crashed.claimNext(ClaimRequest(
                host: "h1", gpu: "gpu2", pipelines: ["synthetic"], now: clock.now(), leaseUntil: clock.now() + 30)))
            try await crashed.update(third.id, to: .encoding, JobUpdate(
                attempt: 1, at: clock.now(), generatedAt: clock.now(), endAttempt: .generated, attemptGPUSeconds: 0))
        }
        clock.advance(by: 60)
        let reopened = try SQLiteJobStore(path: path)
        let recovered = try await reopened.recoverLostJobs(RecoveryRequest(
            restartedHost: "h1", expiredLeases: false, now: clock.now()))
        #expect(recovered.map(\.id) == ids)
        #expect(recovered.map(\.state) == [.queued, .failed, .queued])
        #expect(recovered[0].error?.contains("host h1 restarted while attempt 1 was generating") == true)
        #expect(recovered[1].error?.contains("all 1 attempts used") == true)
        #expect(recovered[2].error?.contains("encoding") == true)
        // The lost attempts held their slots from claim to the last heartbeat: 5 s.
        #expect(recovered[0].gpuSeconds == 5)
        let attempts = try await reopened.attempts(of: ids[0])
        #expect(attempts.map(\.outcome) == [.lost])
        #expect(attempts[0].gpuSeconds == 5)
        #expect(try await reopened.claimNext(ClaimRequest(
            host: "h1", gpu: "gpu0", pipelines: ["synthetic"], now: clock.now(), leaseUntil: clock.now() + 30))?.attempts == 2)
    }

    @Test func expiredLeasesOfOtherHostsAreRecovered() async throws {
        let id = try await store.enqueue(Fixtures.request()).job.id
        _ = try await claim(host: "dead-host")
        #expect(try await store.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: clock.now())).isEmpty)
        clock.advance(by: 31)
        let recovered = try await store.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: clock.now()))
        #expect(recovered.map(\.id) == [id])
        #expect(recovered[0].state == .queued)
        #expect(recovered[0].error?.contains("dead-host stopped renewing its lease") == true)
    }

    @Test func oneFailingWriteInABatchDoesNotLoseTheOthers() async throws {
        let id = try await store.enqueue(Fixtures.request()).job.id
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<50 {
                group.addTask {
                    if n == 25 {
                        await #expect(throws: SpoolError.self) {
                            try await store.update(id, to: .succeeded, JobUpdate(at: Date()))
                        }
                    } else {
                        _ = try await store.enqueue(Fixtures.request())
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.countsByState()[.queued] == 50)
    }
}
