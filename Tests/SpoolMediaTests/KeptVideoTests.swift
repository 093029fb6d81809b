import Foundation
import SpoolCore
@testable import SpoolMedia
import SpoolTesting
import Synchronization
import Testing

/// An encoder that keeps its video segment by segment, and one that goes on from what the
/// first kept: the continued MP4 is the uninterrupted one, frame for frame, with the kept part
/// remuxed rather than encoded again.
@Suite("Kept videos", .enabled(if: MediaProbe.toolsAvailable))
struct KeptVideoTests {
    static let size = FrameSize(width: 64, height: 48)

    static func encode(_ frames: Range<Int>, path: String, kept: KeptSegments?, prefix: EncodedPrefix?) throws -> EncodedVideo {
        let encoder = try FFmpegVideoEncoder(
            path: path, size: size, fps: 24, settings: .init(preset: "ultrafast"), kept: kept, prefix: prefix)
        for index in frames {
            let picture = MediaFiles.picture(size, index: index)
            try picture.withUnsafeBytes { try encoder.encode($0) }
        }
        return try encoder.finish()
    }

    static func hashes(_ path: String) throws -> [String] {
        let result = try runProcess(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"])
        return result.stdoutText.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.split(separator: ",").last ?? "") }
    }

    @Test func aVideoGoesOnFromItsKeptSegmentsToTheUninterruptedFrames() throws {
        let dir = try TemporaryDirectory("kept")
        defer { dir.remove() }
        let durable = Mutex<[Int]>([])
        let kept = KeptSegments(folder: dir.file("kept-1"), segmentFrames: 8) { _, frames in durable.withLock { $0.append(frames) } }
        // An attempt that gets to frame 20 and dies (no finish): segments 0 and 1 are kept.
        do {
            let encoder = try FFmpegVideoEncoder(
                path: dir.file("first.mp4"), size: Self.size, fps: 24, settings: .init(preset: "ultrafast"), kept: kept)
            for index in 0..<20 {
                let picture = MediaFiles.picture(Self.size, index: index)
                try picture.withUnsafeBytes { try encoder.encode($0) }
            }
        }
        #expect(durable.withLock { $0 } == [8, 16])
        // Uninterrupted, and cut into segments the same way (a fresh encoder instance each).
        let whole = try Self.encode(
            0..<40, path: dir.file("whole.mp4"), kept: KeptSegments(folder: dir.file("kept-w"), segmentFrames: 8) { _, _ in },
            prefix: nil)
        let again = Mutex<[Int]>([])
        let continued = try Self.encode(
            16..<40, path: dir.file("continued.mp4"),
            kept: KeptSegments(folder: dir.file("kept-2"), segmentFrames: 8) { _, frames in again.withLock { $0.append(frames) } },
            prefix: EncodedPrefix(folder: dir.file("kept-1"), segments: 2, frames: 16))
        #expect(continued.frames == 40 && whole.frames == 40)
        let probe = try MediaProbe(path: dir.file("continued.mp4"))
        #expect(probe.frames == 40 && probe.streamDuration == "1.666667", "\(probe)")
        #expect(try Self.hashes(dir.file("continued.mp4")) == Self.hashes(dir.file("whole.mp4")))
        // The continued attempt keeps the whole video again, cut at the same frames.
        #expect(again.withLock { $0 } == [8, 16, 24, 32, 40])
        let segments = EncodedPrefix(folder: dir.file("kept-2"), segments: 4, frames: 32)
        let third = try Self.encode(32..<40, path: dir.file("third.mp4"), kept: nil, prefix: segments)
        #expect(third.frames == 40)
        #expect(try Self.hashes(dir.file("third.mp4")) == Self.hashes(dir.file("whole.mp4")))
    }
}
