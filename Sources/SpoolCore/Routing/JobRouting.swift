import Foundation

/// How Spool chose a routed job's pipeline (`"pipeline": "auto"`), kept on the job: what was
/// asked, every candidate of the tier and why it fitted or not, and each move to the next
/// candidate after a failure.
public struct JobRouting: Hashable, Sendable, Codable {
    /// One candidate of the tier, as the router weighed it at submission.
    public struct Candidate: Hashable, Sendable, Codable {
        public var pipeline: String
        public var fits: Bool
        /// Why it fits (its estimate) or why not.
        public var reason: String
        /// Submission to video, by its history or prior; nil when it had neither.
        public var estimatedSeconds: Double?
        public var estimatedGpuSeconds: Double?

        public init(pipeline: String, fits: Bool, reason: String, estimatedSeconds: Double? = nil, estimatedGpuSeconds: Double? = nil) {
            self.pipeline = pipeline
            self.fits = fits
            self.reason = reason
            self.estimatedSeconds = estimatedSeconds
            self.estimatedGpuSeconds = estimatedGpuSeconds
        }
    }

    /// A move to the next candidate that fitted, when an attempt on the chosen one failed.
    public struct Move: Hashable, Sendable, Codable {
        public var from: String
        public var to: String
        /// The attempt that failed on `from`.
        public var afterAttempt: Int
        public var error: String

        public init(from: String, to: String, afterAttempt: Int, error: String) {
            self.from = from
            self.to = to
            self.afterAttempt = afterAttempt
            self.error = error
        }
    }

    public var tier: RouteTier
    public var deadlineSeconds: Double?
    public var maxGpuSeconds: Double?
    /// The pipeline the job runs on now.
    public var chosen: String
    /// Why it was chosen, in words.
    public var reason: String
    public var candidates: [Candidate]
    public var moves: [Move]
    /// Whether the job gave its frame size; if not, each pipeline it moves to makes its own
    /// default size.
    public var sizeGiven: Bool

    public init(
        tier: RouteTier, deadlineSeconds: Double? = nil, maxGpuSeconds: Double? = nil, chosen: String, reason: String,
        candidates: [Candidate], moves: [Move] = [], sizeGiven: Bool
    ) {
        self.tier = tier
        self.deadlineSeconds = deadlineSeconds
        self.maxGpuSeconds = maxGpuSeconds
        self.chosen = chosen
        self.reason = reason
        self.candidates = candidates
        self.moves = moves
        self.sizeGiven = sizeGiven
    }

    /// The next candidate that fitted at submission, after `pipeline` in the tier's order;
    /// nil when `pipeline` was the last (a retry then stays on it).
    public func next(after pipeline: String) -> Candidate? {
        guard let index = candidates.firstIndex(where: { $0.pipeline == pipeline }) else { return nil }
        return candidates[(index + 1)...].first(where: \.fits)
    }

    /// The routing after moving from the chosen pipeline to `next` because `attempt` failed.
    public func moved(to next: String, afterAttempt attempt: Int, error: String) -> JobRouting {
        var routing = self
        routing.moves.append(Move(from: chosen, to: next, afterAttempt: attempt, error: error))
        routing.chosen = next
        routing.reason = "attempt \(attempt) failed on \(chosen); \(next) is the next candidate of tier \(tier.rawValue) that fitted"
        return routing
    }
}

extension JobRouting {
    /// The JSON both stores keep in `jobs.routing`.
    public var stored: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public init?(stored json: String) {
        guard let routing = try? JSONDecoder().decode(JobRouting.self, from: Data(json.utf8)) else { return nil }
        self = routing
    }
}
