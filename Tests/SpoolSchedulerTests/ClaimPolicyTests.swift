import Foundation
import SpoolCore
@testable import SpoolScheduler
import SpoolTesting
import Testing

/// The claim policy's rules (issue 31) on real stores, and the plain value that says when it
/// may be reused. The whole path (tokens, a daemon, two slots) is in `TenantTests`.
@Suite("Claim policy")
struct ClaimPolicyTests {
    static let anaAtOne = ["ana": ClaimPolicy.Tenant(limits: TenantLimits(maxRunning: 1))]

    /// A tenant at its maxRunning with nothing queued is held all the same: a job it submits
    /// before the next read waits (CI saw ana's second job take the slot meant for bo's when
    /// the read that let it through had begun before her submission).
    @Test(arguments: StoreKind.available)
    func aTenantAtItsMaxRunningIsHeldBeforeItQueuesItsNextJob(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            func submit(_ tenant: String) async throws -> Job {
                var request = Fixtures.request(Fixtures.spec())
                request.tenant = tenant
                return try await t.store.enqueue(request).job
            }
            let first = try await submit("ana")
            #expect(try await t.claim()?.id == first.id)
            let policy = ClaimPolicy(refreshSeconds: 3_600)
            policy.setTenants(Self.anaAtOne)
            let read = await policy.tenants(store: t.store, now: t.clock.now())
            #expect(read.held == ["ana"])

            // Her next job, and bo's behind it, arrive; the claim uses the read above.
            _ = try await submit("ana")
            let bos = try await submit("bo")
            #expect(await policy.tenants(store: t.store, now: t.clock.now()) == read, "the read is still fresh")
            #expect(try await t.claim("gpu1", tenantOrder: read.order, held: read.held)?.id == bos.id)
            #expect(policy.holdReason(for: "ana", now: t.clock.now())?.contains("maxRunning 1") == true)
            #expect(policy.holdReason(for: "bo", now: t.clock.now()) == nil)
        }
    }

    /// A change heard while a read is on its way is not lost: the read is kept but not trusted,
    /// and the next claim reads again.
    @Test func aChangeDuringAReadMakesTheNextClaimReadAgain() {
        var state = ClaimPolicy.State()
        state.enabled = true
        let start = ContinuousClock.now
        guard case .stale(_, _, let generation) = state.cached(now: start, refreshSeconds: 1) else {
            Issue.record("a policy never read must be read")
            return
        }
        state.changed()
        let read = ClaimTenants(order: [], held: ["ana"])
        state.store(read, holds: [:], readAt: start, generation: generation)
        #expect(state.cached(now: start, refreshSeconds: 1) == .stale(read, tenants: [:], generation: generation + 1))

        // Read again with nothing heard meanwhile: fresh for refreshSeconds, then stale.
        state.store(read, holds: [:], readAt: start, generation: generation + 1)
        #expect(state.cached(now: start + .milliseconds(500), refreshSeconds: 1) == .fresh(read))
        #expect(state.cached(now: start + .seconds(2), refreshSeconds: 1) != .fresh(read))
        // A host serving no tenants never reads.
        #expect(ClaimPolicy.State().cached(now: start, refreshSeconds: 1) == .fresh(ClaimTenants()))
    }
}
