import SpoolCore

/// Turns RGB24 frames, in order, into a video file.
///
/// Not thread-safe: one encoder is driven by one thread from ``open`` to ``finish()``.
public protocol VideoEncoder: AnyObject {
    /// Encodes the next frame: `width*height*3` bytes of RGB24.
    func encode(_ frame: UnsafeRawBufferPointer) throws(MediaError)
    /// Encodes the sound of the frames encoded since the last call: interleaved samples in the
    /// format the encoder was made with (see ``VideoEncoderFactory/makeEncoder(path:size:fps:live:kept:prefix:audio:)``).
    func encodeAudio(_ samples: UnsafeBufferPointer<Float>) throws(MediaError)
    /// Flushes, writes the container's trailer and closes the file.
    func finish() throws(MediaError) -> EncodedVideo
}

extension VideoEncoder {
    /// An encoder made without sound has none to encode.
    public func encodeAudio(_ samples: UnsafeBufferPointer<Float>) throws(MediaError) {}
}

/// What an encoder wrote.
public struct EncodedVideo: Hashable, Sendable, Codable {
    public var path: String
    public var frames: Int
    public var fps: Int
    public var bytes: Int
    public var codec: String
    /// Why the live preview stopped before the video was done, when it did (the video is whole
    /// all the same).
    public var livePreviewFailure: String?

    public init(path: String, frames: Int, fps: Int, bytes: Int, codec: String, livePreviewFailure: String? = nil) {
        self.path = path
        self.frames = frames
        self.fps = fps
        self.bytes = bytes
        self.codec = codec
        self.livePreviewFailure = livePreviewFailure
    }

    public var durationSeconds: Double { Double(frames) / Double(fps) }
}

/// Makes encoders; the seam where tests put a fake.
public protocol VideoEncoderFactory: Sendable {
    /// An encoder of `path`, also writing `live` while it encodes, when given.
    func makeEncoder(path: String, size: FrameSize, fps: Int, live: LivePreview?) throws(MediaError) -> any VideoEncoder
    /// The same, also keeping the video segment by segment (`kept`) and going on from an
    /// earlier attempt's kept video (`prefix`).
    func makeEncoder(
        path: String, size: FrameSize, fps: Int, live: LivePreview?, kept: KeptSegments?, prefix: EncodedPrefix?
    ) throws(MediaError) -> any VideoEncoder
    /// Whether this factory's encoders keep segments and continue kept videos.
    var keepsSegments: Bool { get }
    /// The same, with sound: an AAC track of `audio`'s samples (``VideoEncoder/encodeAudio(_:)``).
    func makeEncoder(
        path: String, size: FrameSize, fps: Int, live: LivePreview?, kept: KeptSegments?, prefix: EncodedPrefix?, audio: AudioFormat?
    ) throws(MediaError) -> any VideoEncoder
    /// Whether this factory's encoders can write sound.
    var makesSound: Bool { get }
}

extension VideoEncoderFactory {
    public func makeEncoder(path: String, size: FrameSize, fps: Int) throws(MediaError) -> any VideoEncoder {
        try makeEncoder(path: path, size: size, fps: fps, live: nil)
    }

    /// An encoder that also keeps its video segment by segment (`kept`), and goes on from an
    /// earlier attempt's kept video (`prefix`). A factory that cannot says so with
    /// ``keepsSegments``: its encoders ignore both, and no job resumes from them.
    public func makeEncoder(
        path: String, size: FrameSize, fps: Int, live: LivePreview?, kept: KeptSegments?, prefix: EncodedPrefix?
    ) throws(MediaError) -> any VideoEncoder {
        try makeEncoder(path: path, size: size, fps: fps, live: live)
    }

    /// Whether this factory's encoders keep segments and continue kept videos.
    public var keepsSegments: Bool { false }

    /// A factory without sound makes encoders for silent videos only.
    public func makeEncoder(
        path: String, size: FrameSize, fps: Int, live: LivePreview?, kept: KeptSegments?, prefix: EncodedPrefix?, audio: AudioFormat?
    ) throws(MediaError) -> any VideoEncoder {
        guard audio == nil else {
            throw MediaError("making the encoder", code: -1, message: "this host's encoder cannot write sound")
        }
        return try makeEncoder(path: path, size: size, fps: fps, live: live, kept: kept, prefix: prefix)
    }

    /// Whether this factory's encoders can write sound.
    public var makesSound: Bool { false }
}
