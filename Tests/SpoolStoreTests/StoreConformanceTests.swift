import Foundation
import SpoolCore
import SpoolPostgres
import SpoolSQLite
import SpoolTesting
import Testing

/// One suite, run against every store: SQLite always, PostgreSQL when a test server is set.
@Suite("Job store conformance")
struct StoreConformanceTests {
    @Test(arguments: StoreKind.available)
    func enqueuedJobsRoundTrip(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
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
    }

    @Test(arguments: StoreKind.available)
    func anIdempotencyKeyReturnsTheExistingJob(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
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
    }

    /// Tenants (issue 31): a job records its tenant, a list and a count filter by it, and an
    /// idempotency key is each tenant's own (and the host's own apart from both).
    @Test(arguments: StoreKind.available)
    func aTenantsJobsAreItsOwnInListsCountsAndIdempotencyKeys(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            func submit(_ tenant: String?, key: String) async throws -> EnqueueResult {
                var request = Fixtures.request(Fixtures.spec(idempotencyKey: key))
                request.tenant = tenant
                return try await store.enqueue(request)
            }
            let ana = try await submit("ana", key: "k")
            let bo = try await submit("bo", key: "k")
            let host = try await submit(nil, key: "k")
            let anaAgain = try await submit("ana", key: "k")
            #expect(ana.created && bo.created && host.created && !anaAgain.created)
            #expect(Set([ana.job.id, bo.job.id, host.job.id]).count == 3 && anaAgain.job.id == ana.job.id)
            #expect(try await store.job(ana.job.id)?.tenant == "ana")
            let hostJob = try await store.job(host.job.id)
            #expect(hostJob != nil && hostJob?.tenant == nil)
            #expect(try await store.list(JobQuery(tenant: "ana")).jobs.map(\.id) == [ana.job.id])
            #expect(try await store.list(JobQuery()).jobs.count == 3)
            #expect(try await store.count(JobQuery(states: [.queued], tenant: "bo")) == 1)
            #expect(try await store.count(JobQuery(states: [.running], tenant: "bo")) == 0)
            #expect(try await store.count(JobQuery(states: [.queued])) == 3)
            // Positions: in the whole queue, or among the job's own tenant's (the host's own jobs
            // are a tenant of their own here).
            #expect(try await store.queuePosition(of: host.job.id) == 3)
            #expect(try await store.queuePosition(of: host.job.id, scope: .sameTenant) == 1)
            #expect(try await store.jobWithPosition(bo.job.id, scope: .sameTenant)?.queuePosition == 1)
            #expect(try await store.jobWithPosition(bo.job.id)?.queuePosition == 2)
            if let reads = store.synchronousReads {
                #expect(try reads.jobWithPositionNow(bo.job.id, scope: .sameTenant)?.queuePosition == 1)
            }

            // Usage: ana's job (the oldest) runs and ends an attempt of 2.5 GPU-seconds.
            let since = t.clock.now().addingTimeInterval(-1)
            let claimed = try #require(try await t.claim(host: "h1"))
            #expect(claimed.id == ana.job.id)
            _ = try await store.update(claimed.id, to: .encoding, JobUpdate(attempt: 1, at: t.clock.now(), endAttempt: .generated, attemptGPUSeconds: 2.5))
            #expect(try await store.tenantUsage(since: since, now: t.clock.now()) == [
                TenantUsage(tenant: nil, queued: 1), TenantUsage(tenant: "ana", endedSeconds: 2.5, encoding: 1), TenantUsage(tenant: "bo", queued: 1),
            ])
            #expect(try await store.tenantUsage(since: t.clock.now().addingTimeInterval(1), now: t.clock.now()).map(\.gpuSeconds) == [0, 0, 0])
            // bo's job runs: its time so far counts, and it is on a slot.
            #expect(try await t.claim(host: "h1")?.tenant == "bo")
            t.clock.advance(by: 10)
            let boUsage = try await store.tenantUsage(since: since, now: t.clock.now()).first { $0.tenant == "bo" }
            #expect(boUsage == TenantUsage(tenant: "bo", runningSeconds: 10, running: 1))
            #expect(boUsage?.gpuSeconds == 10)
        }
    }

    @Test(arguments: StoreKind.available)
    func claimsTakeHighestPriorityThenOldest(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            var ids: [Int: JobID] = [:]
            for (n, priority) in [0, 5, 0, 5, -3].enumerated() {
                ids[n] = try await store.enqueue(Fixtures.request(Fixtures.spec(priority: priority))).job.id
            }
            var order: [JobID] = []
            while let job = try await t.claim() { order.append(job.id) }
            #expect(order == [ids[1]!, ids[3]!, ids[0]!, ids[2]!, ids[4]!])
        }
    }

    @Test(arguments: StoreKind.available)
    func claimingMarksTheJobRunningWithANewAttempt(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request()).job.id
            let job = try #require(try await t.claim("gpu3", host: "hostA"))
            #expect(job.id == id)
            #expect(job.state == .running)
            #expect(job.attempts == 1)
            #expect(job.gpu == "gpu3" && job.host == "hostA")
            #expect(job.timings.startedAt == clock.now())
            #expect(job.leaseExpiresAt == clock.now().addingTimeInterval(30))
            let attempts = try await store.attempts(of: id)
            #expect(attempts.count == 1)
            #expect(attempts[0].outcome == .running && attempts[0].gpu == "gpu3")
            #expect(try await t.claim() == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func claimsSkipOtherPipelinesAndBackedOffJobs(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            let cuda = try await store.enqueue(Fixtures.request(Fixtures.spec(pipeline: "helios"))).job.id
            #expect(try await t.claim(pipelines: ["synthetic"]) == nil)
            #expect(try await t.claim(pipelines: ["helios"])?.id == cuda)
            #expect(try await t.claim(pipelines: []) == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func backoffDelaysARetryUntilNotBefore(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request()).job.id
            let job = try #require(try await t.claim())
            try await store.update(id, to: .queued, JobUpdate(
                attempt: job.attempts, at: clock.now(), error: "worker crashed",
                notBefore: clock.now().addingTimeInterval(10), endAttempt: .failed, attemptGPUSeconds: 4))
            #expect(try await t.claim() == nil)
            clock.advance(by: 10)
            let retried = try #require(try await t.claim())
            #expect(retried.attempts == 2)
            #expect(retried.gpuSeconds == 4)
            #expect(try await store.attempts(of: id).map(\.outcome) == [.failed, .running])
        }
    }

    @Test(arguments: StoreKind.available)
    func illegalTransitionsAreErrorsAndChangeNothing(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
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
    }

    @Test(arguments: StoreKind.available)
    func aFullLifecycleRecordsEveryStageAndItsCost(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request(at: clock.now())).job.id
            clock.advance(by: 2)
            let job = try #require(try await t.claim())
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
    }

    @Test(arguments: StoreKind.available)
    func updatesFromAStaleAttemptAreRejected(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request()).job.id
            _ = try await t.claim()
            try await store.update(id, to: .queued, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .lost))
            _ = try await t.claim()
            await #expect(throws: SpoolError.staleAttempt(job: id, attempt: 1, current: 2)) {
                try await store.update(id, to: .encoding, JobUpdate(attempt: 1, at: clock.now()))
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func endingAnAttemptTwiceCountsItsSlotTimeOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request()).job.id
            _ = try await t.claim()
            try await store.update(id, to: .encoding, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .generated, attemptGPUSeconds: 3))
            let job = try await store.update(id, to: .failed, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .failed, attemptGPUSeconds: 3))
            #expect(job.gpuSeconds == 3)
        }
    }

    @Test(arguments: StoreKind.available)
    func listingFiltersAndPages(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
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
    }

    @Test(arguments: StoreKind.available)
    func queuePositionsFollowClaimOrder(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            let low = try await store.enqueue(Fixtures.request(Fixtures.spec(priority: -1))).job.id
            let a = try await store.enqueue(Fixtures.request()).job.id
            let high = try await store.enqueue(Fixtures.request(Fixtures.spec(priority: 9))).job.id
            let b = try await store.enqueue(Fixtures.request()).job.id
            #expect(try await store.queuePosition(of: high) == 1)
            #expect(try await store.queuePosition(of: a) == 2)
            #expect(try await store.queuePosition(of: b) == 3)
            #expect(try await store.queuePosition(of: low) == 4)
            _ = try await t.claim()
            #expect(try await store.queuePosition(of: high) == nil)
            #expect(try await store.queuePosition(of: a) == 1)
            // The poll's read: the job and its position together.
            let polled = try #require(try await store.jobWithPosition(b))
            #expect(polled.job.id == b && polled.job.state == .queued && polled.queuePosition == 2)
            let running = try #require(try await store.jobWithPosition(high))
            #expect(running.job.state == .running && running.job.attempts == 1 && running.queuePosition == nil)
            #expect(try await store.jobWithPosition(JobID("no-such-job")) == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func concurrentClaimersAcrossConnectionsNeverShareAJob(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            let jobCount = 300
            // Four tenants' jobs: half the claimers claim under fair share (each its own order
            // of the tenants), half in queue order, all at once.
            let tenants = ["t0", "t1", "t2", "t3"]
            _ = try await store.enqueueAll((0..<jobCount).map { n in
                var request = Fixtures.request()
                request.tenant = tenants[n % tenants.count]
                return request
            })
            // A second store on the same data stands in for a second process.
            let other = try await t.openAnother()
            let stores = [store, other]
            let claimed = try await withThrowingTaskGroup(of: [JobID].self) { group in
                for claimer in 0..<8 {
                    let store = stores[claimer % 2]
                    let order = claimer < 4 ? Array(tenants[claimer...] + tenants[..<claimer]) : []
                    group.addTask {
                        var mine: [JobID] = []
                        while let job = try await store.claimNext(ClaimRequest(
                            host: "h\(claimer)", gpu: "gpu\(claimer)", pipelines: ["synthetic"], now: Date(),
                            leaseUntil: Date().addingTimeInterval(30), tenantOrder: order)) {
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
    }

    /// An attempt Spool stopped at a checkpoint (a drain, a preemption) is spared: it does
    /// not count against the job's limit, once, however often its ending is written; a lost
    /// one counts.
    @Test(arguments: StoreKind.available)
    func interruptedAndPreemptedAttemptsAreNotCountedAgainstTheLimit(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request(maxAttempts: 1)).job.id
            for (number, outcome) in [(1, Attempt.Outcome.interrupted), (2, .preempted)] {
                _ = try #require(try await t.claim())
                let ending = JobUpdate(attempt: number, at: clock.now(), notBefore: clock.now(), endAttempt: outcome, attemptGPUSeconds: 1)
                let requeued = try await store.update(id, to: .queued, ending)
                #expect(requeued.sparedAttempts == number && requeued.countedAttempts == 0)
                // The same ending again changes no attempt, so spares nothing more.
                #expect(try await store.update(id, to: nil, JobUpdate(attempt: number, at: clock.now(), endAttempt: outcome)).sparedAttempts == number)
            }
            let third = try #require(try await t.claim())
            #expect(third.attempts == 3 && third.sparedAttempts == 2 && third.countedAttempts == 1)
            // Its host is lost: that attempt counts, and it was the one the job had.
            clock.advance(by: 60)
            let recovered = try await store.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: clock.now()))
            #expect(recovered.map(\.state) == [.failed])
            #expect(recovered.first?.error?.contains("all 1 attempts used") == true, "\(recovered)")
            #expect(try await store.attempts(of: id).map(\.outcome) == [.interrupted, .preempted, .lost])
            #expect(try await store.job(id)?.sparedAttempts == 2)
        }
    }

    /// The step before publishing: the job's lease is extended only for the attempt that
    /// holds it, encoding on its host; anyone else is told no and changes nothing.
    @Test(arguments: StoreKind.available)
    func onlyTheAttemptThatHoldsAnEncodingJobMayPublish(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request()).job.id
            let claimed = try #require(try await t.claim(host: "h1"))
            let later = clock.now().addingTimeInterval(600)
            #expect(try await !store.confirmPublishing(id, attempt: 1, host: "h1", leaseUntil: later), "still generating")
            _ = try await store.update(id, to: .encoding, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .generated, attemptGPUSeconds: 1))
            #expect(try await !store.confirmPublishing(id, attempt: 2, host: "h1", leaseUntil: later), "another attempt")
            #expect(try await !store.confirmPublishing(id, attempt: 1, host: "h2", leaseUntil: later), "another host")
            #expect(try await store.job(id)?.leaseExpiresAt == claimed.leaseExpiresAt, "a refusal changes nothing")
            #expect(try await store.confirmPublishing(id, attempt: 1, host: "h1", leaseUntil: later))
            let lease = try #require(try await store.job(id)?.leaseExpiresAt)
            #expect(abs(lease.timeIntervalSince(later)) < 0.001)
        }
    }

    /// Many jobs in one read: those that exist, whatever else is asked for.
    @Test(arguments: StoreKind.available)
    func manyJobsAreReadAtOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            var ids: [JobID] = []
            for _ in 0..<3 { ids.append(try await store.enqueue(Fixtures.request()).job.id) }
            let found = try await store.jobs([ids[0], ids[2], JobID("no-such-job")])
            #expect(Set(found.map(\.id)) == [ids[0], ids[2]])
            #expect(found.allSatisfy { $0.state == .queued && $0.spec.prompt == Fixtures.request().spec.prompt })
            #expect(try await store.jobs([]).isEmpty)
        }
    }

    /// An attempt stopped by Spool after its generation had ended (in its encode tail: a
    /// drain, self-fencing) is spared by the update that requeues it, since its own ending
    /// (generated) was written already.
    @Test(arguments: StoreKind.available)
    func anAttemptStoppedInItsEncodeTailIsSparedByItsRequeue(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request(maxAttempts: 1)).job.id
            _ = try #require(try await t.claim())
            _ = try await store.update(id, to: .encoding, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .generated, attemptGPUSeconds: 1))
            let requeued = try await store.update(id, to: .queued, JobUpdate(
                attempt: 1, at: clock.now(), notBefore: clock.now(), endAttempt: .interrupted, spareAttempt: true))
            #expect(requeued.sparedAttempts == 1 && requeued.countedAttempts == 0)
            #expect(try await store.attempts(of: id).map(\.outcome) == [.generated])
            #expect(requeued.gpuSeconds == 1, "the generation's slot time is charged once")
        }
    }

    /// The job a preemption makes room for: queued, of a pipeline the slots run, of higher
    /// priority than the lowest running one, ready since the threshold; the queue's own order.
    @Test(arguments: StoreKind.available)
    func aPreemptionCandidateIsTheFirstJobInQueueOrderThatWaitedLongEnough(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let start = clock.now()
            func enqueue(priority: Int, pipeline: String = "synthetic") async throws -> JobID {
                try await store.enqueue(Fixtures.request(Fixtures.spec(priority: priority, pipeline: pipeline), at: clock.now())).job.id
            }
            _ = try await enqueue(priority: 1)
            let other = try await enqueue(priority: 9, pipeline: "helios")
            let high = try await enqueue(priority: 5)
            clock.advance(by: 10)
            let newest = try await enqueue(priority: 7)
            func candidate(above: Int = 1, since: Date, pipelines: Set<String> = ["synthetic"]) async throws -> JobID? {
                try await store.preemptionCandidate(PreemptionQuery(pipelines: pipelines, abovePriority: above, waitingSince: since))?.id
            }
            // Ready 10 s: the priority-5 job; the newer priority-7 one has not waited long enough.
            #expect(try await candidate(since: start.addingTimeInterval(5)) == high)
            #expect(try await candidate(since: clock.now()) == newest)
            #expect(try await candidate(since: start.addingTimeInterval(-1)) == nil)
            #expect(try await candidate(above: 7, since: clock.now()) == nil)
            #expect(try await candidate(since: start, pipelines: ["synthetic", "helios"]) == other)
            #expect(try await candidate(since: clock.now(), pipelines: []) == nil)
            #expect(try await candidate(above: 0, since: start) == high)
            #expect(try await candidate(above: 0, since: start, pipelines: ["nothing"]) == nil)
            // A job requeued (a retry, a preemption) waits from its not_before, not its submission.
            let claimed = try #require(try await t.claim())
            #expect(claimed.id == newest)
            try await store.update(newest, to: .queued, JobUpdate(
                attempt: 1, at: clock.now(), notBefore: clock.now().addingTimeInterval(20), endAttempt: .preempted))
            #expect(try await candidate(since: clock.now().addingTimeInterval(19)) == high)
            #expect(try await candidate(since: clock.now().addingTimeInterval(20)) == newest)
        }
    }

    @Test(arguments: StoreKind.available)
    func aStoreReopenedAfterAnUncleanCloseRequeuesWhatItsHostLeftRunning(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let clock = t.clock
            var ids: [JobID] = []
            do {
                // The first "process" claims three jobs, heartbeats, then vanishes without closing.
                let crashed = try await t.openAnother()
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
            let reopened = try await t.openAnother()
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
    }

    @Test(arguments: StoreKind.available)
    func expiredLeasesOfOtherHostsAreRecovered(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let id = try await store.enqueue(Fixtures.request()).job.id
            _ = try await t.claim(host: "dead-host")
            #expect(try await store.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: clock.now())).isEmpty)
            clock.advance(by: 31)
            let recovered = try await store.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: clock.now()))
            #expect(recovered.map(\.id) == [id])
            #expect(recovered[0].state == .queued)
            #expect(recovered[0].error?.contains("dead-host stopped renewing its lease") == true)
        }
    }

    /// Fair share (issue 31): within a priority, the claim takes the oldest job of the first
    /// tenant in the order that has one; priority still wins; a tenant not in the order is
    /// still claimed once the order's have nothing, unless it is held at a limit; and usage is
    /// read by the hour, for fair share to decay.
    @Test(arguments: StoreKind.available)
    func aClaimUnderFairShareTakesTheLeastServedTenantsJobWithinAPriority(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            func submit(_ tenant: String?, priority: Int = 0) async throws -> JobID {
                clock.advance(by: 1)
                var request = Fixtures.request(Fixtures.spec(priority: priority), at: clock.now())
                request.tenant = tenant
                return try await store.enqueue(request).job.id
            }
            let a1 = try await submit("ana"), a2 = try await submit("ana"), a3 = try await submit("ana")
            let b1 = try await submit("bo"), h1 = try await submit(nil), c1 = try await submit("cy")
            let urgent = try await submit("ana", priority: 5)
            // Priority first, whatever the order.
            #expect(try await t.claim(tenantOrder: ["bo", "ana"])?.id == urgent)
            #expect(try await t.claim(tenantOrder: ["bo", "", "ana"])?.id == b1)
            #expect(try await t.claim(tenantOrder: ["", "ana"])?.id == h1)
            #expect(try await t.claim(tenantOrder: ["ana", "bo"])?.id == a1)
            // Without an order (one tenant), queue order: ana's next.
            #expect(try await t.claim()?.id == a2)
            // The order's tenants have nothing left but ana's a3; cy is not in the order: a3 first.
            #expect(try await t.claim(tenantOrder: ["bo", "ana"])?.id == a3)
            // Only cy is left, not in the order: a tenant held at a limit is not claimed even
            // then; cy is once it is not held.
            #expect(try await t.claim(tenantOrder: ["bo", "ana"], held: ["cy"]) == nil)
            #expect(try await t.claim(tenantOrder: ["bo", "ana"])?.id == c1)
            #expect(try await t.claim(tenantOrder: ["bo", "ana"]) == nil)

            // Usage by the hour an attempt ended in: what fair share decays.
            let claimed = try await store.list(JobQuery(states: [.running], tenant: "bo")).jobs[0]
            let endedAt = clock.now()
            _ = try await store.update(claimed.id, to: .encoding, JobUpdate(attempt: 1, at: endedAt, endAttempt: .generated, attemptGPUSeconds: 100))
            clock.advance(by: 2 * 3_600)
            let hours = try await store.hourlyUsage(since: endedAt.addingTimeInterval(-1))
            #expect(hours == [TenantHour(tenant: "bo", hour: Int(endedAt.timeIntervalSince1970 / 3_600), seconds: 100)])
            #expect(try await store.hourlyUsage(since: endedAt.addingTimeInterval(1)).isEmpty)
        }
    }

    /// A lease that ran out while the store was out of reach of the host taking the job back
    /// too: the outage lost the attempt, which is not counted (issue 27); one lost after the
    /// taker was back is.
    @Test(arguments: StoreKind.available)
    func anAttemptLostToAnOutageIsNotCountedAgainstTheLimit(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let lostToOutage = try await store.enqueue(Fixtures.request(maxAttempts: 1, at: clock.now())).job.id
            _ = try await t.claim(host: "cut-off-host")
            let lostAfter = try await store.enqueue(Fixtures.request(maxAttempts: 1, at: clock.now())).job.id
            // The outage ends (for the taker) after the first claim's last sign, before the second's.
            clock.advance(by: 1)
            let outageEnded = clock.now()
            clock.advance(by: 1)
            _ = try await t.claim(host: "dead-host")
            clock.advance(by: 31)
            let recovered = try await store.recoverLostJobs(RecoveryRequest(
                restartedHost: nil, expiredLeases: true, now: clock.now(), outageEndedAt: outageEnded))
            let byID = Dictionary(uniqueKeysWithValues: recovered.map { ($0.id, $0) })
            #expect(byID[lostToOutage]?.state == .queued && byID[lostToOutage]?.sparedAttempts == 1)
            #expect(byID[lostToOutage]?.error?.contains("while the store was out of reach (not counted)") == true)
            #expect(byID[lostAfter]?.state == .failed && byID[lostAfter]?.sparedAttempts == 0)
        }
    }

    @Test(arguments: StoreKind.available)
    func oneFailingWriteInABatchDoesNotLoseTheOthers(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
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

    @Test(arguments: StoreKind.available)
    func hostsRegisterRefreshWithTheirHeartbeatAndLeave(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let gpu = GPUSlot.gpu(0, uuid: "GPU-1", model: "NVIDIA H100", memoryMiB: 81_559)
            let a = HostRecord(name: "a", slots: [gpu], pipelines: ["helios", "synthetic"], startedAt: clock.now(), heartbeatAt: clock.now())
            let b = HostRecord(name: "b", slots: [.virtual(0)], pipelines: ["synthetic"], startedAt: clock.now(), heartbeatAt: clock.now())
            try await store.registerHost(b)
            try await store.registerHost(a)
            #expect(try await store.hosts() == [a, b])
            clock.advance(by: 20)
            try await store.renewLeases(host: "a", until: clock.now() + 30, now: clock.now())
            let seen = try await store.hosts()
            #expect(seen[0].heartbeatAt == clock.now() && seen[0].isLive(at: clock.now(), window: 10))
            #expect(!seen[1].isLive(at: clock.now(), window: 10))
            #expect(seen[0].canRun(Fixtures.catalog["helios"]!) && !seen[1].canRun(Fixtures.catalog["helios"]!))
            try await store.deregisterHost("b")
            #expect(try await store.hosts().map(\.name) == ["a"])
        }
    }

    @Test(arguments: StoreKind.available)
    func twoHostsRecoveringAtOnceTakeEachLostJobBackOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let other = try await t.openAnother()
            _ = try await store.enqueueAll((0..<20).map { _ in Fixtures.request() })
            for n in 0..<20 { _ = try await t.claim("gpu\(n)", host: "dead") }
            clock.advance(by: 31)
            let request = RecoveryRequest(restartedHost: nil, expiredLeases: true, now: clock.now())
            async let first = store.recoverLostJobs(request)
            async let second = other.recoverLostJobs(request)
            let recovered = try await first + second
            #expect(recovered.count == 20)
            #expect(Set(recovered.map(\.id)).count == 20)
            #expect(try await store.countsByState()[.queued] == 20)
            for job in recovered.prefix(3) {
                #expect(try await store.attempts(of: job.id).map(\.outcome) == [.lost])
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func aRowThisVersionCannotReadIsAnErrorNamingTheJob(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let id = try await t.store.enqueue(Fixtures.request()).job.id
            let other = try await t.store.enqueue(Fixtures.request()).job.id
            try await t.execute("UPDATE jobs SET state = 'paused' WHERE id = '\(id)'")
            let expected = SpoolError.unreadableJob(
                job: id, reason: "its state \"paused\" is not one this version of Spool knows (queued, running, encoding, succeeded, failed, cancelled)")
            await #expect(throws: expected) { try await t.store.job(id) }
            await #expect(throws: expected) { try await t.store.update(id, to: .cancelled, JobUpdate(at: t.clock.now())) }
            #expect("\(expected)".contains("job \(id) in the store cannot be read"))
            // The rest of the store is untouched and usable.
            #expect(try await t.store.job(other)?.state == .queued)
            #expect(try await t.claim()?.id == other)
        }
    }

    @Test(arguments: StoreKind.available)
    func modelLoadsAreRecordedOnTheJobAndTheAttempt(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let id = try await t.store.enqueue(Fixtures.request()).job.id
            _ = try #require(try await t.claim())
            let load = ModelLoad(coldStart: true, seconds: 4.5)
            let started = try await t.store.update(id, to: nil, JobUpdate(attempt: 1, at: t.clock.now(), load: load))
            #expect(started.coldStart == true && started.loadSeconds == 4.5)
            try await t.store.update(id, to: .encoding, JobUpdate(
                attempt: 1, at: t.clock.now(), endAttempt: .generated, attemptGPUSeconds: 2, load: load))
            let attempt = try #require(try await t.store.attempts(of: id).first)
            #expect(attempt.coldStart == true && attempt.loadSeconds == 4.5 && attempt.gpuSeconds == 2)
            // A new attempt starts with no load of its own yet.
            try await t.store.update(id, to: .queued, JobUpdate(attempt: 1, at: t.clock.now()))
            let again = try #require(try await t.claim())
            #expect(again.coldStart == nil && again.loadSeconds == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func aCheckpointOutlivesItsAttemptAndEndsWithTheJob(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let id = try await t.store.enqueue(Fixtures.request()).job.id
            _ = try #require(try await t.claim())
            #expect(try await t.store.job(id)?.checkpoint == nil)
            let first = JobCheckpoint(chunk: 0, frame: 33, stateFile: "/ckpt/\(id)/state-00000")
            let later = JobCheckpoint(chunk: 3, frame: 132, stateFile: "/ckpt/\(id)/state-00003")
            try await t.store.update(id, to: nil, JobUpdate(attempt: 1, at: t.clock.now(), checkpoint: first))
            let kept = try await t.store.update(id, to: nil, JobUpdate(attempt: 1, at: t.clock.now(), checkpoint: later))
            #expect(kept.checkpoint == later)
            // The attempt is lost; the checkpoint is the job's, for the next attempt.
            try await t.store.update(id, to: .queued, JobUpdate(attempt: 1, at: t.clock.now(), endAttempt: .lost))
            let again = try #require(try await t.claim())
            #expect(again.checkpoint == later && again.attempts == 2)
            // A stale attempt cannot move it.
            await #expect(throws: SpoolError.staleAttempt(job: id, attempt: 1, current: 2)) {
                try await t.store.update(id, to: nil, JobUpdate(attempt: 1, at: t.clock.now(), checkpoint: first))
            }
            // An ended job has none.
            let ended = try await t.store.update(id, to: .failed, JobUpdate(attempt: 2, at: t.clock.now(), error: "x", endAttempt: .failed))
            #expect(ended.checkpoint == nil)
            #expect(try await t.store.job(id)?.checkpoint == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func aHostSettlesOnlyTheJobsItNoLongerHolds(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            var ids: [JobID] = []
            for _ in 0..<4 { ids.append(try await t.store.enqueue(Fixtures.request()).job.id) }
            for n in 0..<3 { _ = try await t.claim("gpu\(n)", host: "h1") }
            _ = try await t.claim("gpu9", host: "h2")
            t.clock.advance(by: 1)
            let cutoff = t.clock.now()
            // Claimed at the cutoff: on its way to an execution, not an orphan.
            try await t.store.update(ids[2], to: .queued, JobUpdate(attempt: 1, at: t.clock.now()))
            _ = try await t.claim("gpu2", host: "h1")
            let settled = try await t.store.recoverLostJobs(RecoveryRequest(
                restartedHost: "h1", expiredLeases: false, now: t.clock.now(), keeping: [ids[0]], startedBefore: cutoff))
            try #require(settled.map(\.id) == [ids[1]])
            #expect(settled[0].state == .queued)
            #expect(settled[0].error?.contains("host h1 no longer ran attempt 1") == true, "\(settled[0].error ?? "")")
            #expect(try await t.store.attempts(of: ids[1]).map(\.outcome) == [.lost])
            for id in [ids[0], ids[2], ids[3]] { #expect(try await t.store.job(id)?.state == .running) }
        }
    }

    @Test(arguments: StoreKind.available)
    func aClaimHandedBackLeavesTheJobAsIfNeverClaimed(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let id = try await t.store.enqueue(Fixtures.request()).job.id
            let claimed = try #require(try await t.claim("gpu0", host: "h1"))
            let later = t.clock.now().addingTimeInterval(5)
            let back = try await t.store.releaseClaim(id, attempt: 1, ClaimRelease(
                at: t.clock.now(), waitingReason: "waiting for disk space", notBefore: later))
            #expect(back.state == .queued && back.attempts == 0 && back.host == nil && back.gpu == nil)
            #expect(back.timings.startedAt == nil && back.waitingReason == "waiting for disk space" && back.notBefore == later)
            #expect(try await t.store.attempts(of: id).isEmpty)
            #expect(try await t.claim() == nil, "not before its time")
            t.clock.advance(by: 6)
            let again = try #require(try await t.claim())
            #expect(again.attempts == 1 && again.waitingReason == nil && claimed.id == again.id)
            #expect(try await t.store.attempts(of: id).map(\.number) == [1])
            // Only a claim nothing came of can be handed back.
            try await t.store.update(id, to: nil, JobUpdate(
                attempt: 1, at: t.clock.now(), progress: JobProgress(framesDone: 8, framesTotal: 48, chunksDone: 1)))
            await #expect(throws: SpoolError.illegalTransition(job: id, from: .running, to: .queued)) {
                try await t.store.releaseClaim(id, attempt: 1, ClaimRelease(at: t.clock.now(), waitingReason: "x"))
            }
            await #expect(throws: SpoolError.staleAttempt(job: id, attempt: 3, current: 1)) {
                try await t.store.releaseClaim(id, attempt: 3, ClaimRelease(at: t.clock.now(), waitingReason: "x"))
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func aClaimPutsTheJobOnTheSlotChosenForItsPipeline(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let first = try await t.store.enqueue(Fixtures.request(Fixtures.spec(priority: 5, pipeline: "b"))).job.id
            let second = try await t.store.enqueue(Fixtures.request(Fixtures.spec(pipeline: "a"))).job.id
            let third = try await t.store.enqueue(Fixtures.request(Fixtures.spec(pipeline: "c"))).job.id
            func claim() async throws -> Job? {
                try await t.store.claimNext(ClaimRequest(
                    host: "h1", gpu: "gpu9", pipelines: ["a", "b", "c"], slotByPipeline: ["a": "gpu1", "b": "gpu2"],
                    now: t.clock.now(), leaseUntil: t.clock.now().addingTimeInterval(30)))
            }
            // Priority decides the job; the pipeline decides only the slot.
            let b = try #require(try await claim())
            #expect(b.id == first && b.gpu == "gpu2")
            let a = try #require(try await claim())
            #expect(a.id == second && a.gpu == "gpu1")
            let c = try #require(try await claim())
            #expect(c.id == third && c.gpu == "gpu9", "a pipeline with no slot of its own gets the request's")
            #expect(try await t.store.attempts(of: first).first?.gpu == "gpu2")
        }
    }
}

@Suite("PostgreSQL store")
struct PostgresStoreTests {
    @Test(.enabled(if: PostgresTestServer.isAvailable))
    func submissionsOnOneHostWakeAnotherThroughNotify() async throws {
        try await withStore(.postgres) { t in
            let listener = try await t.openAnother()
            try await listener.registerHost(HostRecord(
                name: "idle", slots: [.virtual(0)], pipelines: [Fixtures.request().spec.pipeline ?? "synthetic"], startedAt: t.clock.now(),
                heartbeatAt: t.clock.now()))
            var notifications = listener.queueNotifications(for: "idle").makeAsyncIterator()
            // The first yield says it listens; only then can a submission be heard.
            #expect(await notifications.next() != nil)
            _ = try await t.store.enqueue(Fixtures.request())
            #expect(await notifications.next() != nil, "a submission wakes the other host")
        }
    }

    @Test(.enabled(if: PostgresTestServer.isAvailable))
    func everyStateChangeAndChunkReachesTheOtherHosts() async throws {
        try await withStore(.postgres) { t in
            let listener = try await t.openAnother()
            var changes = listener.jobChanges().makeAsyncIterator()
            #expect(await changes.next() == .listening)
            // An unfollowed job's changes are not sent (issue 33); the followed job's are.
            let unfollowed = try await t.store.enqueue(Fixtures.request()).job.id
            let id = try await t.store.enqueue(Fixtures.request()).job.id
            try await listener.follow(id, host: "watcher", true)
            try await t.store.update(unfollowed, to: .cancelled, JobUpdate(at: t.clock.now(), error: "x"))
            _ = try #require(try await t.claim())
            let progress = JobProgress(framesDone: 8, framesTotal: 48, chunksDone: 1, chunksTotal: 6)
            try await t.store.update(id, to: nil, JobUpdate(attempt: 1, at: t.clock.now(), progress: progress))
            try await t.store.update(id, to: .failed, JobUpdate(attempt: 1, at: t.clock.now(), error: "x"))
            var seen: [JobChangeNotice] = []
            for _ in 0..<3 { if let next = await changes.next() { seen.append(next) } }
            #expect(seen == [
                .changed(JobChange(id: id, state: .running, attempt: 1, chunksDone: 0, kind: .state)),
                .changed(JobChange(id: id, state: .running, attempt: 1, chunksDone: 1, kind: .chunk)),
                .changed(JobChange(id: id, state: .failed, attempt: 1, chunksDone: 1, kind: .state)),
            ])
        }
    }

    @Test func addressesAreCheckedAndAnUnreachableServerIsNamed() async throws {
        let address = try PostgresStoreAddress(url: "postgres://spool:pw@db.example:6543/queue?sslmode=require&pool=4")
        #expect(address.host == "db.example" && address.port == 6543 && address.database == "queue")
        #expect(address.tls == .require && address.poolSize == 4 && address.password == "pw")
        #expect(address.description == "postgres://spool@db.example:6543/queue")
        #expect(throws: PostgresStoreError.self) { try PostgresStoreAddress(url: "postgres://host-only") }
        #expect(throws: PostgresStoreError.self) { try PostgresStoreAddress(url: "mysql://h/db") }
        #expect(throws: PostgresStoreError.self) { try PostgresStoreAddress(url: "postgres://h/db?sslmode=maybe") }
        let unreachable = try PostgresStoreAddress(url: "postgres://spool@127.0.0.1:1/spool?sslmode=disable")
        let started = ContinuousClock.now
        await #expect {
            _ = try await PostgresJobStore.connect(unreachable)
        } throws: { error in
            "\(error)".contains("cannot use the PostgreSQL store postgres://spool@127.0.0.1:1/spool")
        }
        #expect(ContinuousClock.now - started < .seconds(15), "a dead server is reported, not waited on forever")
    }
}
