import SpoolCore

/// One output frame, and where its pixels come from.
public struct PlannedFrame: Hashable, Sendable {
    /// Where in a chunk a frame's pixels are.
    public struct Source: Hashable, Sendable {
        public var chunk: ChunkDescriptor
        /// 0-based frame within the chunk.
        public var offset: Int

        public init(chunk: ChunkDescriptor, offset: Int) {
            self.chunk = chunk
            self.offset = offset
        }

        /// Position on the timeline.
        public var frame: Int { chunk.firstFrame + offset }
    }

    public enum Pixels: Hashable, Sendable {
        case copy(Source)
        /// `(1 - weight)·from + weight·to`, for a cross-fade.
        case blend(from: Source, to: Source, weight: Double)
    }

    /// Index in the output video.
    public var index: Int
    public var pixels: Pixels

    public init(index: Int, pixels: Pixels) {
        self.index = index
        self.pixels = pixels
    }

    /// The chunk the frame belongs to: a cross-fade's belongs to the chunk it fades into.
    public var chunk: Int {
        switch pixels {
        case .copy(let source): source.chunk.index
        case .blend(_, let to, _): to.chunk.index
        }
    }
}
