import Foundation

/// A pipeline's sound: what every chunk of its jobs carries beside its frames (`"audio"` in the
/// pipeline file), and what the MP4's AAC track is made from.
public struct AudioFormat: Hashable, Sendable, Codable {
    /// Samples a second, per channel: 8,000…96,000.
    public var sampleRate: Int
    /// 1 (mono) or 2 (stereo, interleaved left first).
    public var channels: Int

    public init(sampleRate: Int, channels: Int) {
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// Problems that make it unusable; empty when it is sound.
    public var problems: [String] {
        var problems: [String] = []
        if !(8_000...96_000).contains(sampleRate) { problems.append("audio.sampleRate must be 8000…96000, not \(sampleRate)") }
        if !(1...2).contains(channels) { problems.append("audio.channels must be 1 or 2, not \(channels)") }
        return problems
    }

    /// The first sample (per channel) of frame `frame` at `fps`: frame n plays samples
    /// `start(n) ..< start(n + 1)`, so N frames hold exactly `start(N)` samples and the track
    /// lasts as long as the video whatever the rate (44.1 kHz at 24 FPS is 1,837.5 a frame).
    public func start(ofFrame frame: Int, fps: Int) -> Int { frame * sampleRate / fps }
}

/// The sound of one chunk, announced in its `chunk` event: raw PCM in a file beside the chunk's
/// frames, covering the same frames (worker protocols 1 and 2; see `Pipelines/README.md`).
public struct ChunkAudio: Hashable, Sendable, Codable {
    public enum SampleFormat: String, Hashable, Sendable, Codable {
        /// Signed 16-bit little-endian integers.
        case s16le
        /// 32-bit little-endian floats, -1…1.
        case f32le

        public var bytes: Int { self == .s16le ? 2 : 4 }
    }

    /// File name inside the work directory.
    public var file: String
    public var sampleRate: Int
    public var channels: Int
    public var format: SampleFormat
    /// Samples per channel the file holds.
    public var samples: Int

    public init(file: String, sampleRate: Int, channels: Int, format: SampleFormat = .s16le, samples: Int) {
        self.file = file
        self.sampleRate = sampleRate
        self.channels = channels
        self.format = format
        self.samples = samples
    }

    enum CodingKeys: String, CodingKey {
        case file, sampleRate = "sample_rate", channels, format, samples
    }

    /// Bytes the file must hold.
    public var expectedBytes: Int { samples * channels * format.bytes }

    /// Checks the sound of `chunk` against the pipeline's format and its file against the
    /// declaration; returns the file's path. Every failure names the chunk and what was wrong.
    public func validatedPath(in workDir: String, chunk: ChunkDescriptor, expected: AudioFormat, fps: Int) throws(ChunkError) -> String {
        if file.isEmpty || file.contains("/") || file.hasPrefix(".") {
            throw ChunkError(chunk: chunk.index, "audio file name \"\(file)\" must be a plain name inside the work directory")
        }
        if sampleRate != expected.sampleRate || channels != expected.channels {
            throw ChunkError(
                chunk: chunk.index,
                "'s audio is \(sampleRate) Hz, \(channels) channel(s); the pipeline declares \(expected.sampleRate) Hz, \(expected.channels)")
        }
        let needed = expected.start(ofFrame: chunk.frames, fps: fps)
        if samples < needed {
            throw ChunkError(
                chunk: chunk.index,
                "'s audio holds \(samples) samples for \(chunk.frames) frames; at \(sampleRate) Hz and \(fps) FPS they need \(needed)")
        }
        let path = workDir + "/" + file
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw ChunkError(chunk: chunk.index, errno == ELOOP ? "audio file \(file) is a symbolic link; write the audio itself" : "audio file \(file) is missing")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ChunkError(chunk: chunk.index, "audio file \(file) cannot be examined") }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1 else {
            throw ChunkError(chunk: chunk.index, "audio file \(file) is not a regular file with one link")
        }
        if Int(info.st_size) != expectedBytes {
            throw ChunkError(
                chunk: chunk.index,
                "audio file \(file) has \(info.st_size) bytes; \(samples) samples of \(channels) channel(s) in \(format.rawValue) are \(expectedBytes)")
        }
        return path
    }
}
