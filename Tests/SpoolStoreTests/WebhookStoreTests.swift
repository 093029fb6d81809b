import Foundation
import SpoolCore
import SpoolTesting
import Testing

/// The store's rules for webhook deliveries, run against every store: what a job's change
/// owes, and that each delivery is one host's at a time.
@Suite("Webhook deliveries in the store")
struct WebhookStoreTests {
    static let hook = WebhookSubscription(url: "https://example.com/hook")
    static let startHook = WebhookSubscription(url: "https://example.com/all", events: [.started, .succeeded])

    func claim(_ t: StoreUnderTest, host: String = "h1", limit: Int = 10, from store: (any JobStore)? = nil) async throws -> [WebhookDelivery] {
        let now = t.clock.now()
        return try await (store ?? t.store).claimWebhookDeliveries(
            WebhookClaim(host: host, now: now, leaseUntil: now.addingTimeInterval(60), limit: limit))
    }

    func record(_ t: StoreUnderTest, _ delivery: WebhookDelivery, host: String = "h1", status: Int, state: WebhookDelivery.State, next: Date? = nil) async throws -> Bool {
        try await t.store.recordWebhookTry(WebhookTryRecord(
            delivery: delivery.id, host: host,
            attempt: .init(at: t.clock.now(), statusCode: status, error: nil, seconds: 0.01, host: host),
            payload: "{\"n\":\(delivery.tries.count)}", state: state, nextAttemptAt: next, lastError: state == .delivered ? nil : "the receiver answered \(status)"))
    }

    @Test(arguments: StoreKind.available)
    func aJobOwesEachSubscriberOneDeliveryOfEachEventItAskedFor(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            let request = EnqueueRequest(spec: Fixtures.spec(), maxAttempts: 3, submittedAt: t.clock.now(), webhooks: [Self.hook, Self.startHook])
            let id = try await store.enqueue(request).job.id
            let plain = try await store.enqueue(Fixtures.request()).job.id
            #expect(try await store.webhookDeliveries(of: id).isEmpty)

            _ = try #require(try await t.claim())
            let started = try await store.webhookDeliveries(of: id)
            #expect(started.map(\.event) == [.started] && started[0].url == Self.startHook.url)
            t.clock.advance(by: 1)
            try await store.update(id, to: .encoding, JobUpdate(attempt: 1, at: t.clock.now()))
            try await store.update(id, to: .succeeded, JobUpdate(attempt: 1, at: t.clock.now(), endAttempt: .generated))
            let all = try await store.webhookDeliveries(of: id)
            #expect(all.count == 3)
            #expect(Set(all.filter { $0.event == .succeeded }.map(\.url)) == [Self.hook.url, Self.startHook.url])
            #expect(all.allSatisfy { $0.state == .pending && $0.tries.isEmpty && $0.id.hasPrefix("msg_") })
            #expect(Set(all.map(\.id)).count == 3)
            #expect(all.first { $0.event == .succeeded }?.createdAt == t.clock.now())
            #expect(try await store.webhookDeliveries(of: plain).isEmpty)

            // Cancelling a job with no subscribers owes nothing; recovery failing a job owes
            // job.failed, like any other move to it.
            _ = try await store.update(plain, to: .cancelled, JobUpdate(at: t.clock.now()))
            #expect(try await store.webhookDeliveries(of: plain).isEmpty)
            let lost = try await store.enqueue(EnqueueRequest(spec: Fixtures.spec(), maxAttempts: 1, submittedAt: t.clock.now(), webhooks: [Self.hook])).job.id
            _ = try #require(try await t.claim(host: "gone"))
            _ = try await store.recoverLostJobs(RecoveryRequest(restartedHost: "gone", expiredLeases: false, now: t.clock.now()))
            #expect(try await store.webhookDeliveries(of: lost).map(\.event) == [.failed])
        }
    }

    @Test(arguments: StoreKind.available)
    func aDeliveryIsOneHostsUntilItsTryIsRecordedOrItsLeaseEnds(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            let other = try await t.openAnother()
            let id = try await store.enqueue(EnqueueRequest(spec: Fixtures.spec(), maxAttempts: 3, submittedAt: t.clock.now(), webhooks: [Self.hook])).job.id
            _ = try await store.update(id, to: .cancelled, JobUpdate(at: t.clock.now()))

            let mine = try await claim(t)
            #expect(mine.map(\.event) == [.cancelled])
            #expect(try await claim(t, host: "h2", from: other).isEmpty, "a leased delivery is nobody else's")
            // A host that does not hold it records nothing.
            #expect(try await record(t, mine[0], host: "h2", status: 200, state: .delivered) == false)

            // A failed try releases it with its next time; it is not due before.
            let retryAt = t.clock.now().addingTimeInterval(5)
            #expect(try await record(t, mine[0], status: 503, state: .pending, next: retryAt))
            #expect(try await claim(t, host: "h2", from: other).isEmpty)
            t.clock.advance(by: 5)
            let again = try await claim(t, host: "h2", from: other)
            #expect(again.map(\.id) == mine.map(\.id), "the same webhook-id on the retry")
            #expect(again[0].payload == "{\"n\":0}", "the body is kept from the first try")
            #expect(again[0].tries.map(\.statusCode) == [503])

            // A host that dies holding it: another takes it once the lease ends, or at once
            // when the host restarts and gives its leases up.
            t.clock.advance(by: 30)
            #expect(try await claim(t).isEmpty)
            try await store.releaseWebhookLeases(host: "h2")
            let taken = try await claim(t)
            #expect(taken.map(\.id) == mine.map(\.id))
            #expect(try await record(t, taken[0], status: 204, state: .delivered))
            let done = try #require(try await store.webhookDeliveries(of: id).first)
            #expect(done.state == .delivered && done.tries.map(\.statusCode) == [503, 204] && done.lastError == nil)
            t.clock.advance(by: 3_600)
            #expect(try await claim(t).isEmpty, "a delivered message is never sent again")
        }
    }

    @Test(arguments: StoreKind.available)
    func concurrentClaimersNeverShareADelivery(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store
            for _ in 0..<40 {
                let id = try await store.enqueue(EnqueueRequest(spec: Fixtures.spec(), maxAttempts: 3, submittedAt: t.clock.now(), webhooks: [Self.hook])).job.id
                _ = try await store.update(id, to: .cancelled, JobUpdate(at: t.clock.now()))
            }
            let stores = [store, try await t.openAnother(), try await t.openAnother(), try await t.openAnother()]
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for (n, s) in stores.enumerated() {
                    group.addTask {
                        var mine: [String] = []
                        while true {
                            let batch = try await claim(t, host: "h\(n)", limit: 3, from: s)
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(claimed.count == 40 && Set(claimed).count == 40)
        }
    }
}
