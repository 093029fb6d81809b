import Foundation
import SpoolCore

/// The synthetic worker's sound (`--tone`): a sine tone whose pitch says the chunk it belongs
/// to, so a test can hear which chunk each moment of a video's sound came from and check that
/// it lines up with the pictures, with no model.
public enum SyntheticTone {
    /// The tone's pitch in chunk `chunk`: 300 Hz, then 100 Hz higher a chunk, over eight.
    public static func frequency(chunk: Int) -> Double { 300 + 100 * Double(chunk % 8) }

    /// Half of full scale: no clipping after AAC's ripple.
    public static let amplitude = 0.5

    /// A chunk's tone as 16-bit PCM (interleaved, every channel alike): the samples of its
    /// frames on the job's timeline (``AudioFormat/start(ofFrame:fps:)``), so chunks that
    /// overlap hold the same instants, each in its own pitch. Returns the bytes and the chunk's
    /// audio declaration (file `chunk-NNNNN.pcm`).
    public static func pcm(format: AudioFormat, chunk: Int, firstFrame: Int, frames: Int, fps: Int) -> (Data, ChunkAudio) {
        let first = format.start(ofFrame: firstFrame, fps: fps)
        let count = format.start(ofFrame: firstFrame + frames, fps: fps) - first
        let frequency = frequency(chunk: chunk)
        var values = [Int16](repeating: 0, count: count * format.channels)
        for sample in 0..<count {
            let time = Double(first + sample) / Double(format.sampleRate)
            let value = Int16((amplitude * sin(2 * Double.pi * frequency * time) * 32_767).rounded())
            for channel in 0..<format.channels { values[sample * format.channels + channel] = value.littleEndian }
        }
        let data = values.withUnsafeBytes { Data($0) }
        let file = String(format: "chunk-%05d.pcm", chunk)
        return (data, ChunkAudio(file: file, sampleRate: format.sampleRate, channels: format.channels, format: .s16le, samples: count))
    }
}
