import Foundation

/// The moment each stage of a job began or ended, as recorded by the store.
///
/// Stage durations are derived, never stored, so they cannot disagree with the stamps.
public struct JobTimings: Hashable, Sendable, Codable {
    /// When the job was accepted.
    public var submittedAt: Date
    /// When the latest attempt's worker took a GPU slot.
    public var startedAt: Date?
    /// When the latest attempt's first chunk landed.
    public var firstChunkAt: Date?
    /// When generation ended and the slot was released.
    public var generatedAt: Date?
    /// When the MP4 was closed.
    public var encodedAt: Date?
    /// When the job reached a final state.
    public var finishedAt: Date?

    public init(
        submittedAt: Date, startedAt: Date? = nil, firstChunkAt: Date? = nil,
        generatedAt: Date? = nil, encodedAt: Date? = nil, finishedAt: Date? = nil
    ) {
        self.submittedAt = submittedAt
        self.startedAt = startedAt
        self.firstChunkAt = firstChunkAt
        self.generatedAt = generatedAt
        self.encodedAt = encodedAt
        self.finishedAt = finishedAt
    }

    /// Submission to the (latest) start, in seconds.
    public var queueWait: Double? { startedAt.map { $0.timeIntervalSince(submittedAt) } }
    /// Start to first chunk: model load plus the first chunk's denoising.
    public var timeToFirstChunk: Double? { interval(startedAt, firstChunkAt) }
    /// Start to end of generation: the GPU-bound part.
    public var generationTime: Double? { interval(startedAt, generatedAt) }
    /// End of generation to MP4 closed: what streaming encoding leaves to do.
    public var encodeTail: Double? { interval(generatedAt, encodedAt) }
    /// Submission to final state.
    public var totalLatency: Double? { finishedAt.map { $0.timeIntervalSince(submittedAt) } }

    private func interval(_ a: Date?, _ b: Date?) -> Double? {
        guard let a, let b else { return nil }
        return b.timeIntervalSince(a)
    }
}
