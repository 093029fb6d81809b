import Foundation
import SpoolCore
import SpoolSynthetic

/// Writes chunk files the way a worker does, for tests and benchmarks.
public enum ChunkFiles {
    /// Writes test-pattern chunks for `plan` into `folder` and returns their descriptors
    /// in generation order. `pixel` can override a frame's content: it receives the
    /// chunk index and the frame's timeline position and fills the buffer itself. With
    /// `tone`, each chunk carries the synthetic worker's tone (``SyntheticTone``) in that format.
    @discardableResult
    public static func write(
        plan: ChunkPlan, frames: Int, size: FrameSize, seed: UInt64 = 5, into folder: String, tone: AudioFormat? = nil,
        fps: Int = 24, pixel: ((_ chunk: Int, _ frame: Int, UnsafeMutableRawBufferPointer) -> Void)? = nil
    ) throws -> [ChunkDescriptor] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size.rgb24FrameBytes, alignment: 64)
        defer { buffer.deallocate() }
        var descriptors: [ChunkDescriptor] = []
        for (index, chunk) in plan.chunks(forFrames: frames).enumerated() {
            let file = String(format: "chunk-%05d.rgb", index)
            var data = Data(capacity: chunk.frames * size.rgb24FrameBytes)
            for offset in 0..<chunk.frames {
                let frame = chunk.firstFrame + offset
                if let pixel {
                    pixel(index, frame, buffer)
                } else {
                    TestPattern.render(index: frame, seed: seed, width: size.width, height: size.height, into: buffer)
                }
                data.append(contentsOf: UnsafeRawBufferPointer(buffer))
            }
            try data.write(to: URL(fileURLWithPath: "\(folder)/\(file)"))
            var audio: ChunkAudio?
            if let tone {
                let (pcm, declared) = SyntheticTone.pcm(format: tone, chunk: index, firstFrame: chunk.firstFrame, frames: chunk.frames, fps: fps)
                try pcm.write(to: URL(fileURLWithPath: "\(folder)/\(declared.file)"))
                audio = declared
            }
            descriptors.append(ChunkDescriptor(
                index: index, firstFrame: chunk.firstFrame, frames: chunk.frames, width: size.width, height: size.height,
                file: file, audio: audio))
        }
        return descriptors
    }

    /// Fills a frame with one grey level.
    public static func solid(_ value: UInt8) -> (Int, Int, UnsafeMutableRawBufferPointer) -> Void {
        { _, _, buffer in buffer.initializeMemory(as: UInt8.self, repeating: value) }
    }
}
