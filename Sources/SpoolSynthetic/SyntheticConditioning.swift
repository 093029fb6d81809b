#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpoolCore

/// What the synthetic worker does with a job's conditioning, so that tests can see each
/// input reach the video:
/// - an image (I2V): generated frame 0 *is* the image, which fades into the test pattern
///   over the first second;
/// - a clip (V2V): generated frame 0 is the clip's last frame, fading the same way;
/// - a prompt schedule: below the code band, every frame of a chunk is one flat colour
///   derived from its prompt, blended from the previous prompt's over `transition_chunks`.
struct SyntheticConditioning {
    /// The frame generation starts from (the image, or the clip's last frame), RGB24.
    var start: [UInt8]?
    /// Per chunk, the colour below the band; nil without a schedule.
    var chunkColours: [(UInt8, UInt8, UInt8)]?

    /// Frames over which the start frame fades into the pattern: one second at 24 FPS.
    static let fadeFrames = 24

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    init(_ request: WorkerRequest, chunks: Int) throws {
        let frameBytes = request.width * request.height * 3
        if let image = request.imageFile {
            start = try Self.read(image, offset: 0, bytes: frameBytes, field: "image_file", expected: frameBytes)
        } else if let video = request.videoFile {
            let frames = request.videoFrames ?? 0
            guard frames > 0 else { throw Refusal(description: "video_file comes without video_frames") }
            start = try Self.read(
                video, offset: (frames - 1) * frameBytes, bytes: frameBytes, field: "video_file", expected: frames * frameBytes)
        }
        if let prompts = request.prompts, !prompts.isEmpty {
            let sorted = prompts.sorted { $0.chunk < $1.chunk }
            guard sorted[0].chunk == 0 else { throw Refusal(description: "a prompt schedule must start at chunk 0") }
            let transition = request.transitionChunks ?? 0
            chunkColours = (0..<chunks).map { chunk in
                let index = sorted.lastIndex { $0.chunk <= chunk }!
                let colour = Self.colour(of: sorted[index].prompt)
                let into = chunk - sorted[index].chunk
                guard index > 0, into < transition else { return colour }
                let weight = Double(into + 1) / Double(transition + 1)
                let previous = Self.colour(of: sorted[index - 1].prompt)
                func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) * (1 - weight) + Double(b) * weight).rounded()) }
                return (mix(previous.0, colour.0), mix(previous.1, colour.1), mix(previous.2, colour.2))
            }
        }
    }

    var isEmpty: Bool { start == nil && chunkColours == nil }

    /// A prompt's colour: FNV-1a of its bytes, each channel kept in 32…223 so it survives
    /// 4:2:0 encoding distinct from its neighbours.
    static func colour(of prompt: String) -> (UInt8, UInt8, UInt8) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in prompt.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return (UInt8(32 + hash % 192), UInt8(32 + (hash >> 16) % 192), UInt8(32 + (hash >> 32) % 192))
    }

    /// Applies the conditioning to frame `frame` (of the generated video) of chunk `chunk`,
    /// already rendered as the test pattern in `buffer`.
    func apply(frame: Int, chunk: Int, width: Int, height: Int, to buffer: UnsafeMutableRawBufferPointer) {
        let pixels = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if let chunkColours, chunk < chunkColours.count {
            let colour = chunkColours[chunk]
            for index in (TestPattern.bandHeight(height) * width)..<(width * height) {
                pixels[index * 3] = colour.0
                pixels[index * 3 + 1] = colour.1
                pixels[index * 3 + 2] = colour.2
            }
        }
        guard let start, frame < Self.fadeFrames else { return }
        let weight = Double(frame) / Double(Self.fadeFrames)
        for index in 0..<(width * height * 3) {
            pixels[index] = UInt8((Double(start[index]) * (1 - weight) + Double(pixels[index]) * weight).rounded())
        }
    }

    private static func read(_ path: String, offset: Int, bytes: Int, field: String, expected: Int) throws -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Refusal(description: "\(field) \(path) cannot be read: \(String(cString: strerror(errno)))") }
        guard Int(info.st_size) == expected else {
            throw Refusal(description: "\(field) \(path) holds \(info.st_size) bytes; \(expected) expected")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Refusal(description: "\(field) \(path) cannot be opened") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        guard let data = try handle.read(upToCount: bytes), data.count == bytes else {
            throw Refusal(description: "\(field) \(path) ends early")
        }
        return [UInt8](data)
    }
}
