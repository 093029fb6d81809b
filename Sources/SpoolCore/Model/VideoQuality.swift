import Foundation

/// What Spool measured of a finished video while encoding it (issue 30): where a model's
/// chunks join badly, how much it flickers or freezes, how far it drifts from its start. From
/// the luma and colour of every frame, sampled on a grid; brightness in 8-bit levels (0…255).
public struct VideoQuality: Hashable, Sendable, Codable {
    /// Frame-to-frame difference across each chunk boundary against the median difference
    /// within chunks: 1.0 is no seam. Nil when the video has one chunk.
    public var seamWorst: Double?
    public var seamMean: Double?
    /// The boundary of ``seamWorst``: the first frame of the chunk after it.
    public var seamWorstFrame: Int?
    /// The mean absolute luma difference between consecutive frames, in levels.
    public var flicker: Double
    /// Frames that repeat the one before (differing by under 0.25 levels on average).
    public var frozenFrames: Int
    /// The longest run of such frames.
    public var longestFreeze: Int
    /// The last 15 % of frames against the first 15 %.
    public var drift: Drift
    /// Frames measured: all of a video's, or those made after a resume.
    public var frames: Int

    public struct Drift: Hashable, Sendable, Codable {
        /// Mean luma, last minus first, in levels.
        public var brightness: Double
        /// Luma standard deviation, last over first (1.0: unchanged).
        public var contrast: Double
        /// How far the mean colour moved, in levels of (R−G, B−G).
        public var colour: Double

        public init(brightness: Double, contrast: Double, colour: Double) {
            self.brightness = brightness
            self.contrast = contrast
            self.colour = colour
        }
    }

    public init(
        seamWorst: Double?, seamMean: Double?, seamWorstFrame: Int?, flicker: Double, frozenFrames: Int, longestFreeze: Int,
        drift: Drift, frames: Int
    ) {
        self.seamWorst = seamWorst
        self.seamMean = seamMean
        self.seamWorstFrame = seamWorstFrame
        self.flicker = flicker
        self.frozenFrames = frozenFrames
        self.longestFreeze = longestFreeze
        self.drift = drift
        self.frames = frames
    }
}

extension VideoQuality {
    /// The JSON both stores keep in `jobs.quality`.
    public var stored: String {
        // Encoding a struct of numbers cannot fail.
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Reads ``stored``; nil for anything else (a column from a later version).
    public init?(stored json: String) {
        guard let value = try? JSONDecoder().decode(VideoQuality.self, from: Data(json.utf8)) else { return nil }
        self = value
    }
}
