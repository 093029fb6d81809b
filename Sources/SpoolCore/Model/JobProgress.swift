/// How far generation has got.
public struct JobProgress: Hashable, Sendable, Codable {
    /// Frames placed in order and handed to the encoder.
    public var framesDone: Int
    /// Frames the finished video will have.
    public var framesTotal: Int
    /// Chunks the worker has written so far.
    public var chunksDone: Int
    /// Chunks the pipeline is expected to write, when it can be known in advance.
    public var chunksTotal: Int?

    public init(framesDone: Int = 0, framesTotal: Int, chunksDone: Int = 0, chunksTotal: Int? = nil) {
        self.framesDone = framesDone
        self.framesTotal = framesTotal
        self.chunksDone = chunksDone
        self.chunksTotal = chunksTotal
    }

    /// 0…100.
    public var percent: Double {
        guard framesTotal > 0 else { return 0 }
        return min(100, Double(framesDone) * 100 / Double(framesTotal))
    }
}
