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
}
