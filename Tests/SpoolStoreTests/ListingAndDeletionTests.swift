import Foundation
import SpoolCore
import SpoolTesting
import Testing

/// Paging either way from a job (the videos API's `after` and `order`), and removing a job,
/// run against every store.
@Suite("Job store: paging from a job, and deletion")
struct ListingAndDeletionTests {
    @Test(arguments: StoreKind.available)
    func pagesRunEitherWayFromAJob(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            var ids: [JobID] = []
            for _ in 0..<5 { ids.append(try await t.store.enqueue(Fixtures.request()).job.id) }
            let oldest = try await t.store.list(JobQuery(limit: 2, oldestFirst: true))
            #expect(oldest.jobs.map(\.id) == Array(ids[0..<2]) && oldest.nextCursor != nil)
            let next = try await t.store.list(JobQuery(limit: 2, cursor: oldest.nextCursor, oldestFirst: true))
            #expect(next.jobs.map(\.id) == Array(ids[2..<4]))
            #expect(try await t.store.list(JobQuery(limit: 10, after: ids[1], oldestFirst: true)).jobs.map(\.id) == Array(ids[2...]))
            let newest = try await t.store.list(JobQuery(limit: 2, after: ids[3]))
            #expect(newest.jobs.map(\.id) == [ids[2], ids[1]] && newest.nextCursor != nil)
            let last = try await t.store.list(JobQuery(limit: 2, after: ids[1]))
            #expect(last.jobs.map(\.id) == [ids[0]] && last.nextCursor == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func onlyAFinishedJobWhoseAttemptsHaveEndedIsDeletedWithAllThatRefersToIt(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            let request = EnqueueRequest(
                spec: Fixtures.spec(), maxAttempts: 3, submittedAt: t.clock.now(), webhooks: [WebhookSubscription(url: "https://example.com/h")])
            let id = try await store.enqueue(request).job.id
            let other = try await store.enqueue(Fixtures.request()).job.id
            await #expect(throws: SpoolError.self) { try await store.delete(id) }  // queued
            _ = try #require(try await t.claim())
            // Cancelled while running: final, but its attempt has not closed its books yet.
            try await store.update(id, to: .cancelled, JobUpdate(at: t.clock.now()))
            await #expect(throws: SpoolError.self) { try await store.delete(id) }
            try await store.update(id, to: nil, JobUpdate(attempt: 1, at: t.clock.now(), endAttempt: .cancelled, attemptGPUSeconds: 1))
            #expect(try await store.webhookDeliveries(of: id).count == 1)
            let deleted = try #require(try await store.delete(id))
            #expect(deleted.id == id && deleted.state == .cancelled)
            #expect(try await store.job(id) == nil)
            #expect(try await store.attempts(of: id).isEmpty)
            #expect(try await store.webhookDeliveries(of: id).isEmpty)
            #expect(try await store.delete(id) == nil)
            #expect(try await store.job(other) != nil, "no other job is touched")
        }
    }
}
