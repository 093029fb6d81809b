import SpoolCore
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

    /// Counts a try by the state it left its delivery in: still pending means retried.
    func count(_ state: WebhookDelivery.State) {
        counts.withLock { counts in
            switch state {
            case .delivered: counts.delivered += 1
            case .pending: counts.retried += 1
            case .abandoned: counts.abandoned += 1
            }
        }
    }
}
