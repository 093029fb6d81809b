import Foundation
import SpoolCore
import Synchronization

/// A store that passes everything to a real one, except that a test can make its writes
/// fail, as a full disk or a database that went away would, for as long as it likes.
public final class FailingJobStore: JobStore {
    /// The error a refused write throws: not a `SpoolError`, so Spool takes it for one that may pass.
    public struct WriteRefused: Error, CustomStringConvertible {
        public var description: String { "database or disk is full (a test's failing store)" }
    }

    public let base: any JobStore
    /// Whether it stands for a shared queue (a PostgreSQL store that went away), whatever
    /// `base` is.
    public let isShared: Bool
    private let failing = Mutex(false)
    private let refused = Mutex(0)

    public init(_ base: any JobStore, shared: Bool = false) {
        self.base = base
        isShared = shared
    }

    /// A refused write stands for a database that went away when the store is shared.
    public func isUnreachable(_ error: any Error) -> Bool { isShared && error is WriteRefused }

    /// Refuse every write from now on (`true`), or accept them again.
    public func failWrites(_ on: Bool) {
        failing.withLock { $0 = on }
    }

    /// Writes refused so far.
    public var refusedWrites: Int { refused.withLock { $0 } }

    private func write() throws {
        if failing.withLock({ $0 }) {
            refused.withLock { $0 += 1 }
            throw WriteRefused()
        }
    }

    public func enqueue(_ request: EnqueueRequest) async throws -> EnqueueResult {
        try write()
        return try await base.enqueue(request)
    }

    public func enqueueAll(_ requests: [EnqueueRequest]) async throws -> [EnqueueResult] {
        try write()
        return try await base.enqueueAll(requests)
    }

    public func job(_ id: JobID) async throws -> Job? { try await base.job(id) }

    public func jobs(_ ids: Set<JobID>) async throws -> [Job] { try await base.jobs(ids) }

    public func jobWithPosition(_ id: JobID, scope: QueueScope) async throws -> (job: Job, queuePosition: Int?)? {
        try await base.jobWithPosition(id, scope: scope)
    }

    public func list(_ query: JobQuery) async throws -> JobPage { try await base.list(query) }

    public func queuePosition(of id: JobID, scope: QueueScope) async throws -> Int? { try await base.queuePosition(of: id, scope: scope) }

    public func claimNext(_ request: ClaimRequest) async throws -> Job? {
        try write()
        return try await base.claimNext(request)
    }

    public func update(_ id: JobID, to state: JobState?, _ update: JobUpdate) async throws -> Job {
        try write()
        return try await base.update(id, to: state, update)
    }

    public func releaseClaim(_ id: JobID, attempt: Int, _ release: ClaimRelease) async throws -> Job {
        try write()
        return try await base.releaseClaim(id, attempt: attempt, release)
    }

    public func attempts(of id: JobID) async throws -> [Attempt] { try await base.attempts(of: id) }

    public func confirmPublishing(_ id: JobID, attempt: Int, host: String, leaseUntil: Date) async throws -> Bool {
        try write()
        return try await base.confirmPublishing(id, attempt: attempt, host: host, leaseUntil: leaseUntil)
    }

    public func heartbeat(_ beat: Heartbeat) async throws -> HeartbeatReport {
        try write()
        return try await base.heartbeat(beat)
    }

    public func recoverLostJobs(_ request: RecoveryRequest) async throws -> [Job] {
        try write()
        return try await base.recoverLostJobs(request)
    }

    public func countsByState() async throws -> [JobState: Int] { try await base.countsByState() }
    public func count(_ query: JobQuery) async throws -> Int { try await base.count(query) }
    public func tenantUsage(since: Date, now: Date) async throws -> [TenantUsage] { try await base.tenantUsage(since: since, now: now) }
    public func hourlyUsage(since: Date) async throws -> [TenantHour] { try await base.hourlyUsage(since: since) }
    public func endedAttempts(since: Date, limit: Int) async throws -> [AttemptRecord] { try await base.endedAttempts(since: since, limit: limit) }
    public func preemptionCandidate(_ query: PreemptionQuery) async throws -> Job? {
        try await base.preemptionCandidate(query)
    }
    public func referencedInputs() async throws -> Set<String> { try await base.referencedInputs() }

    public func registerHost(_ host: HostRecord) async throws {
        try write()
        try await base.registerHost(host)
    }

    public func deregisterHost(_ name: String) async throws {
        try write()
        try await base.deregisterHost(name)
    }

    public func hosts() async throws -> [HostRecord] { try await base.hosts() }

    public func delete(_ id: JobID) async throws -> Job? {
        try write()
        return try await base.delete(id)
    }

    public func claimWebhookDeliveries(_ claim: WebhookClaim) async throws -> [WebhookDelivery] {
        try write()
        return try await base.claimWebhookDeliveries(claim)
    }

    public func recordWebhookTry(_ record: WebhookTryRecord) async throws -> Bool {
        try write()
        return try await base.recordWebhookTry(record)
    }

    public func webhookDeliveries(of id: JobID) async throws -> [WebhookDelivery] { try await base.webhookDeliveries(of: id) }

    public func releaseWebhookLeases(host: String) async throws {
        try write()
        try await base.releaseWebhookLeases(host: host)
    }

    public func queueNotifications(for host: String) -> AsyncStream<Void> { base.queueNotifications(for: host) }

    public func follow(_ job: JobID, host: String, _ following: Bool) async throws {
        try write()
        try await base.follow(job, host: host, following)
    }

    public func unfollowAll(host: String) async throws {
        try write()
        try await base.unfollowAll(host: host)
    }

    public func jobChanges() -> AsyncStream<JobChangeNotice> { base.jobChanges() }
}
