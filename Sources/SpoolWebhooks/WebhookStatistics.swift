import Synchronization

/// What this host's sender has done since it started, for `/metrics`.
public final class WebhookStatistics: Sendable {
    public struct Snapshot: Sendable, Hashable {
        /// Tries answered with a 2xx.
        public var delivered = 0
        /// Tries that failed and were scheduled again.
        public var retried = 0
        /// Deliveries given up: 410, a refused target, or out of time.
        public var abandoned = 0
    }

    private let counts = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { counts.withLock { $0 } }

    func count(_ state: WebhookStateChange) {
        counts.withLock { counts in
            switch state {
            case .delivered: counts.delivered += 1
            case .retried: counts.retried += 1
            case .abandoned: counts.abandoned += 1
            }
        }
    }
}

enum WebhookStateChange { case delivered, retried, abandoned }
