import Foundation
import SpoolCore

// How both stores keep webhook deliveries, written once: which deliveries a job's change of
// state owes, how a host claims the due ones under a lease, how a try is recorded. Plain
// SQL both dialects run; each store adds only its own locking.

extension WebhookSubscription {
    /// The deliveries a job moving to `state` at `at` owes its subscribers: one per
    /// subscriber that asked for the event, due now.
    public static func deliveries(job: JobID, reaching state: JobState, at: Date, subscriptions: [WebhookSubscription]) -> [WebhookDelivery] {
        guard let event = WebhookEvent(reaching: state) else { return [] }
        var seen = Set<String>()
        return subscriptions.filter { $0.events.contains(event) && seen.insert($0.url).inserted }.map {
            WebhookDelivery(id: WebhookDelivery.newID(), jobID: job, event: event, url: $0.url, createdAt: at, nextAttemptAt: at)
        }
    }
}

public enum WebhookStatements {
    /// The columns a delivery is read from, in ``WebhookDelivery/init(row:)``'s order.
    public static let columns = "id, job_id, event, url, state, created_at, next_attempt_at, tries, payload, last_error"

    /// Stores a delivery a job's change owes; a second change to the same state owes nothing
    /// more (one delivery per job, event and subscriber).
    public static func insert(_ delivery: WebhookDelivery, _ sql: inout SQLWriter) -> String {
        let values = [
            StoreValue.text(delivery.id), .text(delivery.jobID.rawValue), .text(delivery.event.rawValue), .text(delivery.url),
            .text(delivery.state.rawValue), StoreValue(delivery.createdAt), StoreValue(delivery.nextAttemptAt),
            .text(WebhookDelivery.stored(delivery.tries)),
        ].map { sql.bind($0) }.joined(separator: ", ")
        return """
            INSERT INTO webhook_deliveries (id, job_id, event, url, state, created_at, next_attempt_at, tries)
            VALUES (\(values)) ON CONFLICT (job_id, event, url) DO NOTHING
            """
    }

    /// Leases up to `claim.limit` due deliveries, oldest due first, to `claim.host`:
    /// pending ones whose time has come and that no live lease holds. `lock` is what the
    /// dialect adds to the inner select (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    public static func claim(_ claim: WebhookClaim, lock: String, _ sql: inout SQLWriter) -> String {
        let host = sql.bind(.text(claim.host))
        let until = sql.bind(StoreValue(claim.leaseUntil))
        let now = sql.bind(StoreValue(claim.now))
        let now2 = sql.bind(StoreValue(claim.now))
        return """
            UPDATE webhook_deliveries SET lease_host = \(host), lease_until = \(until)
            WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= \(now) AND (lease_until IS NULL OR lease_until < \(now2))
                ORDER BY next_attempt_at LIMIT \(max(1, claim.limit)) \(lock)
            )
            RETURNING \(columns)
            """
    }

    /// The tries recorded so far on a delivery `host` still holds (nothing if it lost it).
    public static func heldTries(_ record: WebhookTryRecord, lock: String, _ sql: inout SQLWriter) -> String {
        "SELECT tries FROM webhook_deliveries WHERE id = \(sql.bind(.text(record.delivery))) AND lease_host = \(sql.bind(.text(record.host))) \(lock)"
    }

    /// Records a try and releases the lease; the payload is kept from the first try on.
    public static func recordTry(_ record: WebhookTryRecord, tries: [WebhookDelivery.Try], _ sql: inout SQLWriter) -> String {
        let sets = sql.assignments([
            .init("state", .text(record.state.rawValue)), .init("next_attempt_at", StoreValue(record.nextAttemptAt)),
            .init("tries", .text(WebhookDelivery.stored(tries + [record.attempt]))),
            .init("last_error", StoreValue(record.lastError)), .init("lease_host", .null), .init("lease_until", .null),
        ])
        let payload = sql.bind(.text(record.payload))
        return "UPDATE webhook_deliveries SET \(sets), payload = COALESCE(payload, \(payload)) WHERE id = \(sql.bind(.text(record.delivery)))"
    }

    /// A restarted host gives up the leases its previous run held, so they go out now.
    public static func releaseLeases(host: String, _ sql: inout SQLWriter) -> String {
        "UPDATE webhook_deliveries SET lease_host = NULL, lease_until = NULL WHERE lease_host = \(sql.bind(.text(host)))"
    }

    /// A job's deliveries, oldest first.
    public static func ofJob(_ id: JobID, _ sql: inout SQLWriter) -> String {
        "SELECT \(columns) FROM webhook_deliveries WHERE job_id = \(sql.bind(.text(id.rawValue))) ORDER BY created_at, event, url"
    }
}

extension WebhookDelivery {
    /// A delivery from the values of ``WebhookStatements/columns``, in order: texts,
    /// seconds since 1970 and NULLs.
    public init(columns v: [StoreValue]) throws(SpoolError) {
        func text(_ i: Int) -> String? { if case .text(let t) = v[i] { t } else { nil } }
        func date(_ i: Int) -> Date? {
            switch v[i] {
            case .real(let seconds): Date(timeIntervalSince1970: seconds)
            case .integer(let seconds): Date(timeIntervalSince1970: Double(seconds))
            default: nil
            }
        }
        let job = text(1) ?? "?"
        guard v.count == 10, let id = text(0), let event = text(2).flatMap(WebhookEvent.init(rawValue:)), let url = text(3),
              let state = text(4).flatMap(State.init(rawValue:)), let created = date(5)
        else { throw SpoolError.unreadableJob(job: JobID(job), reason: "a webhook delivery row this version of Spool cannot read") }
        self.init(
            id: id, jobID: JobID(job), event: event, url: url, state: state, createdAt: created, nextAttemptAt: date(6),
            tries: WebhookDelivery.readTries(text(7)), payload: text(8), lastError: text(9))
    }
}
