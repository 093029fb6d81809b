#if canImport(Glibc)
import Glibc
#endif
import SpoolCore

/// The sound of planned frames, out of the chunks' PCM files (``ChunkAudio``): output frame n
/// plays samples `start(n) ..< start(n + 1)` of the video's track (``AudioFormat/start(ofFrame:fps:)``),
/// taken from the same place in the chunk its pixels come from. So the sound follows the
/// frames wherever the assembler puts them: an overlap dropped drops its sound, a cross-fade
/// cross-fades it, a trim trims it, and the track lasts exactly as long as the video.
///
/// A chunk's sound is small (33 frames of 48 kHz stereo are 264 KB as 16-bit samples), so it
/// is read whole, as floats, the first time a frame needs it, and kept until the chunk is
/// released.
final class ChunkAudioReader {
    private let folder: String
    private let format: AudioFormat
    private let fps: Int
    private var loaded: [Int: [Float]] = [:]

    init(folder: String, format: AudioFormat, fps: Int) {
        self.folder = folder
        self.format = format
        self.fps = fps
    }

    /// Sample frames (per channel) output frame `index` plays.
    func samples(ofFrame index: Int) -> Int {
        format.start(ofFrame: index + 1, fps: fps) - format.start(ofFrame: index, fps: fps)
    }

    /// Appends the planned frame's sound (interleaved) to `out`.
    func append(_ frame: PlannedFrame, to out: inout [Float]) throws(ChunkError) {
        let count = samples(ofFrame: frame.index)
        switch frame.pixels {
        case .copy(let source):
            try append(source, count: count, to: &out)
        case .blend(let from, let to, let weight):
            let base = out.count
            try append(from, count: count, to: &out)
            var other: [Float] = []
            try append(to, count: count, to: &other)
            let w = Float(weight)
            for i in 0..<other.count { out[base + i] = out[base + i] * (1 - w) + other[i] * w }
        }
    }

    /// Appends silence for `frames` frames starting at output frame `first` (a clip the video
    /// includes before the generated frames has no sound of its own).
    func appendSilence(frames: Int, from first: Int, to out: inout [Float]) {
        let count = format.start(ofFrame: first + frames, fps: fps) - format.start(ofFrame: first, fps: fps)
        out.append(contentsOf: repeatElement(0, count: count * format.channels))
    }

    /// Forgets a chunk's sound; deletes its file too when `delete` is set.
    func release(_ chunk: ChunkDescriptor, delete: Bool) {
        loaded.removeValue(forKey: chunk.index)
        if delete, let audio = chunk.audio { unlink("\(folder)/\(audio.file)") }
    }

    private func append(_ source: PlannedFrame.Source, count: Int, to out: inout [Float]) throws(ChunkError) {
        let samples = try load(source.chunk)
        let channels = format.channels
        let start = format.start(ofFrame: source.offset, fps: fps) * channels
        let end = min(samples.count, start + count * channels)
        if start < end { out.append(contentsOf: samples[start..<end]) }
        // A chunk holds at least its frames' samples (checked when it was announced); at a
        // rate that is no whole number of samples a frame, a frame may start one past its end.
        let short = count * channels - max(0, end - start)
        if short > 0 { out.append(contentsOf: repeatElement(0, count: short)) }
    }

    private func load(_ chunk: ChunkDescriptor) throws(ChunkError) -> [Float] {
        if let samples = loaded[chunk.index] { return samples }
        guard let audio = chunk.audio else {
            throw ChunkError(chunk: chunk.index, "has no audio; the pipeline makes sound, so every chunk must carry it")
        }
        let fd = open("\(folder)/\(audio.file)", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ChunkError(chunk: chunk.index, "audio file \(audio.file) cannot be opened") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1, Int(info.st_size) == audio.expectedBytes else {
            throw ChunkError(chunk: chunk.index, "audio file \(audio.file) changed after it was announced")
        }
        var bytes = [UInt8](repeating: 0, count: audio.expectedBytes)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ChunkError(chunk: chunk.index, "audio file \(audio.file) ended early") }
            done += n
        }
        let values = audio.samples * audio.channels
        var samples = [Float](repeating: 0, count: values)
        bytes.withUnsafeBytes { raw in
            switch audio.format {
            case .s16le:
                for i in 0..<values { samples[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) / 32_768 }
            case .f32le:
                for i in 0..<values {
                    samples[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            }
        }
        loaded[chunk.index] = samples
        return samples
    }
}
