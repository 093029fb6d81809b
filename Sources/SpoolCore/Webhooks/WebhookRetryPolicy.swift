import Foundation

/// When a failed delivery is tried again, and when it is given up: a plain value, so the
/// schedule is tested without a clock or a network.
public struct WebhookRetryPolicy: Sendable, Hashable {
    /// Seconds to wait before each retry: the first after the first failure, and so on;
    /// the last is repeated. The Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h.
    public var delays: [Double]
    /// A delivery is abandoned once its next try would be this long after the event.
    public var maxAge: Double
    /// Each delay is stretched or shrunk by up to this fraction, at random, so receivers
    /// that come back are not hit by every waiting delivery at once.
    public var jitter: Double

    public static let standard = WebhookRetryPolicy(delays: [5, 300, 1_800, 7_200, 18_000, 36_000], maxAge: 86_400, jitter: 0.1)

    public init(delays: [Double], maxAge: Double, jitter: Double = 0.1) {
        self.delays = delays.isEmpty ? [5] : delays
        self.maxAge = maxAge
        self.jitter = jitter
    }

    /// What one try's answer means.
    public enum Answer: Sendable, Hashable {
        /// The receiver answered with this status, and maybe a `Retry-After` (seconds).
        case status(Int, retryAfter: Double?)
        /// No answer: refused, reset, timed out, unresolvable.
        case noAnswer(String)
        /// The target may not be sent to (a private address without `--webhook-allow-private`).
        case refused(String)
    }

    /// The delivery's state after its `triesBefore + 1`th try, at `now`, of an event at `createdAt`.
    public func decide(
        _ answer: Answer, triesBefore: Int, createdAt: Date, now: Date, random: Double = Double.random(in: -1...1)
    ) -> (state: WebhookDelivery.State, next: Date?, error: String?) {
        let why: String
        var atLeast: Double = 0
        switch answer {
        case .status(let code, _) where (200..<300).contains(code):
            return (.delivered, nil, nil)
        case .status(410, _):
            return (.abandoned, nil, "the receiver answered 410 Gone: no more retries")
        case .status(let code, let retryAfter):
            why = (300..<400).contains(code)
                ? "the receiver answered \(code), a redirect, which is not followed" : "the receiver answered \(code)"
            atLeast = retryAfter ?? 0
        case .noAnswer(let reason):
            why = reason
        case .refused(let reason):
            return (.abandoned, nil, reason)
        }
        let base = delays[min(triesBefore, delays.count - 1)]
        let delay = max(atLeast, base * (1 + jitter * max(-1, min(1, random))))
        let next = now.addingTimeInterval(delay)
        if next.timeIntervalSince(createdAt) > maxAge {
            return (.abandoned, nil, "\(why); given up after \(triesBefore + 1) tries over \(Self.describe(now.timeIntervalSince(createdAt)))")
        }
        return (.pending, next, why)
    }

    /// Parses `--webhook-retry-delays`: seconds, comma-separated, each with an optional
    /// unit (`5`, `5s`, `5m`, `2h`).
    public static func parseDelays(_ text: String) -> [Double]? {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.map { part -> Double? in
            let unit = part.last.flatMap { "smh".contains($0) ? $0 : nil }
            let number = Double(unit == nil ? part : String(part.dropLast()))
            let scale: Double = switch unit { case "m": 60; case "h": 3_600; default: 1 }
            return number.flatMap { $0 >= 0 && $0.isFinite ? $0 * scale : nil }
        }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { return nil }
        return values.map { $0! }
    }

    static func describe(_ seconds: Double) -> String {
        seconds >= 3_600 ? String(format: "%.1f h", seconds / 3_600) : seconds >= 60 ? String(format: "%.0f min", seconds / 60) : String(format: "%.1f s", seconds)
    }
}
