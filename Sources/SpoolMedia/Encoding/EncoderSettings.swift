/// How to encode: codec and its quality knobs.
public struct EncoderSettings: Hashable, Sendable {
    public enum Codec: String, Hashable, Sendable, Codable, CaseIterable {
        /// H.264 through libx264: the default, plays everywhere.
        case h264
        /// H.265 through libx265.
        case h265
        /// AV1 through libsvtav1.
        case av1
        /// H.264 on the GPU's NVENC engine; needs an NVIDIA GPU with a driver.
        case h264NVENC = "h264_nvenc"

        /// The libavcodec encoder's name.
        public var encoderName: String {
            switch self {
            case .h264: "libx264"
            case .h265: "libx265"
            case .av1: "libsvtav1"
            case .h264NVENC: "h264_nvenc"
            }
        }

        /// Quality and speed defaults comparable to each encoder's own.
        public var defaultQuality: Int {
            switch self {
            case .h264: 23
            case .h265: 28
            case .av1: 35
            case .h264NVENC: 23
            }
        }

        public var defaultPreset: String {
            switch self {
            case .h264, .h265: "medium"
            case .av1: "8"
            case .h264NVENC: "p4"
            }
        }
    }

    public var codec: Codec
    /// CRF for the software encoders; the constant-quality target (`cq`) for NVENC.
    public var quality: Int
    public var preset: String
    /// Encoder threads; 0 lets the encoder choose.
    public var threads: Int
    /// x264's rate-control look-ahead in frames; nil keeps the preset's (40 for medium).
    ///
    /// Frames held for look-ahead are encoded only after the last chunk arrives, so this
    /// bounds the encode tail of a streamed job. Spool's default, 20, is x264's `faster`
    /// value: it keeps the tail under the time to encode two 33-frame chunks.
    public var lookahead: Int?

    /// Spool's default look-ahead for H.264.
    public static let streamingLookahead = 20

    public init(codec: Codec = .h264, quality: Int? = nil, preset: String? = nil, threads: Int = 0, lookahead: Int?? = .none) {
        self.codec = codec
        self.quality = quality ?? codec.defaultQuality
        self.preset = preset ?? codec.defaultPreset
        self.threads = threads
        switch lookahead {
        case .none: self.lookahead = codec == .h264 ? Self.streamingLookahead : nil
        case .some(let value): self.lookahead = value
        }
    }

    /// Encoder options as libavcodec's AVOptions, the same ones `ffmpeg -crf … -preset …` sets.
    public var codecOptions: [(String, String)] {
        var options: [(String, String)] = [("preset", preset)]
        switch codec {
        case .h264:
            options.append(("crf", String(quality)))
            if let lookahead { options.append(("rc-lookahead", String(lookahead))) }
        case .h265, .av1:
            options.append(("crf", String(quality)))
        case .h264NVENC:
            options += [("rc", "vbr"), ("cq", String(quality)), ("b", "0")]
        }
        return options
    }
}
