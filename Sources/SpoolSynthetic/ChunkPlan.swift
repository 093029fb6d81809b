/// Which frames each chunk of a model's output covers, for a model shape.
public struct ChunkPlan: Hashable, Sendable {
    /// How a model trims its decoded frames.
    public enum Trim: String, Sendable, CaseIterable {
        /// Keep every decoded frame.
        case none
        /// Helios: N chunks of 33 decoded frames are cut to ((33·N − 1) // 4)·4 + 1.
        case helios
    }

    public var chunkFrames: Int
    public var overlap: Int
    public var trim: Trim

    public init(chunkFrames: Int, overlap: Int, trim: Trim = .none) {
        precondition(chunkFrames > overlap && overlap >= 0)
        self.chunkFrames = chunkFrames
        self.overlap = overlap
        self.trim = trim
    }

    /// The chunks (first frame, frame count) a model writes when asked for `frames`.
    /// A model gives at least `frames`: when its trim would cut the chunks that cover them
    /// short (Helios at 99 frames: 3 chunks keep 97), it runs one more.
    public func chunks(forFrames frames: Int) -> [(firstFrame: Int, frames: Int)] {
        let stride = chunkFrames - overlap
        var count = frames <= chunkFrames ? 1 : 1 + (frames - chunkFrames + stride - 1) / stride
        while kept(decoded: (count - 1) * stride + chunkFrames) < frames { count += 1 }
        let total = kept(decoded: (count - 1) * stride + chunkFrames)
        return (0..<count).compactMap { k in
            let first = k * stride
            let end = min(first + chunkFrames, total)
            return end > first ? (first, end - first) : nil
        }
    }

    /// Frames the model keeps of `decoded`.
    func kept(decoded: Int) -> Int {
        switch trim {
        case .none: decoded
        case .helios: ((decoded - 1) / 4) * 4 + 1
        }
    }

    /// Frames a model returns when asked for `frames`.
    public func totalFrames(forFrames frames: Int) -> Int {
        chunks(forFrames: frames).last.map { $0.firstFrame + $0.frames } ?? 0
    }
}
