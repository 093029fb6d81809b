import Foundation

/// What a webhook tells a subscriber: a job started, or reached a final state.
public enum WebhookEvent: String, Sendable, Hashable, Codable, CaseIterable {
    case started = "job.started"
    case succeeded = "job.succeeded"
    case failed = "job.failed"
    case cancelled = "job.cancelled"

    /// What a subscriber gets when it names no events: every final one.
    public static let finalEvents: [WebhookEvent] = [.succeeded, .failed, .cancelled]

    /// The event a job moving to `state` raises, if any.
    public init?(reaching state: JobState) {
        switch state {
        case .running: self = .started
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .queued, .encoding: return nil
        }
    }
}

/// One URL told of a job's events; recorded on the job when it is submitted (its own
/// `webhook` and the host's `--webhook`s), so what it is owed never depends on which host
/// settles it.
public struct WebhookSubscription: Sendable, Hashable, Codable {
    public var url: String
    public var events: [WebhookEvent]

    public init(url: String, events: [WebhookEvent] = WebhookEvent.finalEvents) {
        self.url = url
        self.events = events
    }

    /// The subscriptions' stored form (a JSON array), nil for none.
    public static func stored(_ list: [WebhookSubscription]) -> String? {
        guard !list.isEmpty, let data = try? JSONEncoder().encode(list) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads the stored form; a column this version cannot read owes nothing.
    public static func read(stored text: String?) -> [WebhookSubscription] {
        guard let text else { return [] }
        return (try? JSONDecoder().decode([WebhookSubscription].self, from: Data(text.utf8))) ?? []
    }
}

/// A message owed to one subscriber: its `webhook-id` (the same on every retry), what it
/// says, and how far its delivery has got.
public struct WebhookDelivery: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable {
        /// Not yet answered with a 2xx; tried again at ``nextAttemptAt``.
        case pending
        /// A 2xx came back.
        case delivered
        /// Given up: 410 Gone, a refused target, or retried for as long as allowed.
        case abandoned
    }

    /// One try, as the receiver answered it.
    public struct Try: Sendable, Hashable, Codable {
        public var at: Date
        /// The HTTP status, nil when no answer came (refused, timed out, unreachable).
        public var statusCode: Int?
        public var error: String?
        public var seconds: Double
        /// The host that sent it.
        public var host: String

        public init(at: Date, statusCode: Int?, error: String?, seconds: Double, host: String) {
            self.at = at
            self.statusCode = statusCode
            self.error = error
            self.seconds = seconds
            self.host = host
        }
    }

    /// The `webhook-id`: `msg_` and 26 random characters.
    public var id: String
    public var jobID: JobID
    public var event: WebhookEvent
    public var url: String
    public var state: State
    /// When the event happened: the payload's `timestamp`.
    public var createdAt: Date
    public var nextAttemptAt: Date?
    public var tries: [Try]
    /// The body, fixed at the first try so every retry sends the same bytes.
    public var payload: String?
    /// Why it was abandoned, or why the last try failed.
    public var lastError: String?

    public init(
        id: String, jobID: JobID, event: WebhookEvent, url: String, state: State = .pending, createdAt: Date,
        nextAttemptAt: Date?, tries: [Try] = [], payload: String? = nil, lastError: String? = nil
    ) {
        self.id = id
        self.jobID = jobID
        self.event = event
        self.url = url
        self.state = state
        self.createdAt = createdAt
        self.nextAttemptAt = nextAttemptAt
        self.tries = tries
        self.payload = payload
        self.lastError = lastError
    }

    /// A new message id: `msg_` and 26 characters of Crockford base32 (130 random bits).
    public static func newID() -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        var generator = SystemRandomNumberGenerator()
        return "msg_" + String((0..<26).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
    }

    /// The stored form of ``tries``.
    public static func stored(_ tries: [Try]) -> String {
        String(decoding: (try? JSONEncoder.spoolAPI.encode(tries)) ?? Data("[]".utf8), as: UTF8.self)
    }

    public static func readTries(_ text: String?) -> [Try] {
        guard let text else { return [] }
        return (try? JSONDecoder.spoolAPI.decode([Try].self, from: Data(text.utf8))) ?? []
    }
}

/// Deliveries due now, for one host to send under a lease.
public struct WebhookClaim: Sendable, Hashable {
    public var host: String
    public var now: Date
    /// Another host may take a delivery this one has not settled by then.
    public var leaseUntil: Date
    public var limit: Int

    public init(host: String, now: Date, leaseUntil: Date, limit: Int) {
        self.host = host
        self.now = now
        self.leaseUntil = leaseUntil
        self.limit = limit
    }
}

/// What one try of a delivery came to, for the store to record.
public struct WebhookTryRecord: Sendable, Hashable {
    public var delivery: String
    /// The host holding the lease: a host that lost it records nothing.
    public var host: String
    public var attempt: WebhookDelivery.Try
    /// The body sent, recorded with the first try.
    public var payload: String
    public var state: WebhookDelivery.State
    public var nextAttemptAt: Date?
    public var lastError: String?

    public init(
        delivery: String, host: String, attempt: WebhookDelivery.Try, payload: String, state: WebhookDelivery.State,
        nextAttemptAt: Date?, lastError: String?
    ) {
        self.delivery = delivery
        self.host = host
        self.attempt = attempt
        self.payload = payload
        self.state = state
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
    }
}
