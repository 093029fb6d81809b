import Foundation
import SpoolCore

/// A job's webhook deliveries, as `GET /v1/jobs/{id}/webhooks` shows them: whom it was
/// sent to, every try and its answer, and when the next one is due.
public struct WebhookDeliveryList: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        /// The `webhook-id` every try of it carries.
        public var id: String
        public var event: WebhookEvent
        public var url: String
        /// `pending`, `delivered` or `abandoned`.
        public var state: WebhookDelivery.State
        public var createdAt: Date
        /// When it is tried next, while pending.
        public var nextAttemptAt: Date?
        public var tries: [WebhookDelivery.Try]
        public var lastError: String?

        public init(_ delivery: WebhookDelivery) {
            id = delivery.id
            event = delivery.event
            url = delivery.url
            state = delivery.state
            createdAt = delivery.createdAt
            nextAttemptAt = delivery.state == .pending ? delivery.nextAttemptAt : nil
            tries = delivery.tries
            lastError = delivery.lastError
        }
    }

    public var job: String
    public var deliveries: [Entry]

    public init(job: JobID, deliveries: [WebhookDelivery]) {
        self.job = job.rawValue
        self.deliveries = deliveries.map(Entry.init)
    }
}
