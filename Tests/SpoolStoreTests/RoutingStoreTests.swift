import Foundation
import SpoolCore
import SpoolTesting
import Testing

/// What routing keeps in a store (issue 30), alike in both: the routing on the job, a move to the
/// next pipeline with a retry, each attempt's own pipeline, and the ended attempts the router
/// reads back.
@Suite("Routing in the store")
struct RoutingStoreTests {
    @Test(arguments: StoreKind.available)
    func aRoutedJobMovesPipelineAndEachAttemptKeepsItsOwn(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            let routing = JobRouting(
                tier: .draft, deadlineSeconds: 60, chosen: "synthetic", reason: "the first candidate of tier draft",
                candidates: [
                    .init(pipeline: "synthetic", fits: true, reason: "it takes the job", estimatedSeconds: 3, estimatedGpuSeconds: 2),
                    .init(pipeline: "other", fits: true, reason: "it takes the job"),
                ],
                sizeGiven: true)
            var request = Fixtures.request(Fixtures.spec(frames: 48))
            request.routing = routing
            let id = try await store.enqueue(request).job.id
            #expect(try await store.job(id)?.routing == routing)

            // Attempt 1 fails on "synthetic"; the job moves to "other" for its retry.
            _ = try #require(try await t.claim("gpu0", host: "h1"))
            clock.advance(by: 2)
            var moved = Fixtures.spec(frames: 48, pipeline: "other")
            moved.seed = 7
            let next = routing.moved(to: "other", afterAttempt: 1, error: "the worker exited")
            _ = try await store.update(id, to: .queued, JobUpdate(
                attempt: 1, at: clock.now(), error: "attempt 1 failed", endAttempt: .failed, attemptGPUSeconds: 2, clearCheckpoint: true,
                reroute: JobReroute(spec: moved, routing: next, chunksTotal: 6), attemptPipeline: "synthetic"))
            let requeued = try #require(try await store.job(id))
            #expect(requeued.pipeline == "other" && requeued.spec == moved && requeued.routing == next)
            #expect(requeued.progress.chunksTotal == 6)
            #expect(try await t.claim("gpu0", host: "h1") == nil, "the job is no longer synthetic's to claim")
            _ = try #require(try await t.claim("gpu0", host: "h1", pipelines: ["other"]))
            clock.advance(by: 4)
            _ = try await store.update(id, to: .encoding, JobUpdate(
                attempt: 2, at: clock.now(), endAttempt: .generated, attemptGPUSeconds: 4, load: ModelLoad(coldStart: true, seconds: 1.5),
                attemptPipeline: "other"))

            let records = try await store.endedAttempts(since: clock.now().addingTimeInterval(-60), limit: 10)
            #expect(records.map(\.pipeline) == ["other", "synthetic"], "newest first, each on its own pipeline")
            #expect(records.map(\.outcome) == [.generated, .failed])
            #expect(records[0].framesMade == 48 && records[0].gpuSeconds == 4 && records[0].coldStart == true && records[0].loadSeconds == 1.5)
            #expect(records[1].number == 1 && records[0].number == 2)
            #expect(try await store.endedAttempts(since: clock.now().addingTimeInterval(-60), limit: 1).count == 1)
            #expect(try await store.endedAttempts(since: clock.now().addingTimeInterval(1), limit: 10).isEmpty)

            let history = PipelineHistory.summarize(records)
            #expect(history["synthetic"]?.failureStreak == 1 && history["synthetic"]?.videos == 0)
            #expect(history["other"]?.videos == 1 && history["other"]?.gpuSecondsPerVideoSecond == 2)
            #expect(history["other"]?.failureStreak == 0 && history["other"]?.loadSeconds == 1.5)
        }
    }

    @Test(arguments: StoreKind.available)
    func theHistoryIsReadPageByPageWithNoAttemptLostOrCountedTwiceAtATie(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            // 260 attempts, ending three at a time at the same moment: more than a page (250),
            // with a tie across the pages' boundary.
            let count = 260
            _ = try await store.enqueueAll((0..<count).map { _ in Fixtures.request(Fixtures.spec(frames: 24)) })
            for index in 0..<count {
                let job = try #require(try await t.claim("gpu0", host: "h1"))
                if index % 3 == 0 { clock.advance(by: 1) }
                _ = try await store.update(job.id, to: .encoding, JobUpdate(
                    attempt: 1, at: clock.now(), endAttempt: .generated, attemptGPUSeconds: 1, attemptPipeline: "synthetic"))
            }
            let records = try await store.endedAttempts(since: clock.now().addingTimeInterval(-3_600), limit: 5_000)
            #expect(records.count == count)
            #expect(Set(records.map(\.jobID)).count == count, "no attempt twice")
            #expect(zip(records, records.dropFirst()).allSatisfy { $0.endedAt >= $1.endedAt }, "newest first")
            #expect(try await store.endedAttempts(since: clock.now().addingTimeInterval(-3_600), limit: 100).count == 100)
        }
    }
}
