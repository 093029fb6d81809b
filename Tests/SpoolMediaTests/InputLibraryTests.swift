import Foundation
import SpoolCore
import SpoolMedia
import SpoolTesting
import Testing

/// The input library on real files: images and clips written by the ffmpeg CLI, read with
/// FFmpeg's libraries, kept by hash, scaled and cropped for workers.
@Suite("Input library", .enabled(if: MediaProbe.toolsAvailable))
struct InputLibraryTests {
    let folder: TemporaryDirectory
    let library: InputLibrary

    init() throws {
        folder = try TemporaryDirectory("inputs")
        library = InputLibrary(folder: folder.file("inputs"), limits: InputLimits(maxImageBytes: 8 << 20, maxVideoBytes: 16 << 20))
    }

    @Test func anImageIsDecodedDescribedAndKeptOnceUnderItsHash() throws {
        let size = FrameSize(width: 320, height: 240)
        let path = folder.file("fox.png")
        try MediaFiles.write([MediaFiles.picture(size)], size: size, to: path)
        let input = try library.ingest(fileAt: path, kind: .image, name: "fox.png")
        #expect(input.kind == .image && input.width == 320 && input.height == 240 && input.frames == 1)
        #expect(input.codec == "png" && input.name == "fox.png")
        #expect(input.bytes == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
        #expect(JobInput.isDigest(input.sha256))
        #expect(library.describe(input.sha256) == input)
        // The same bytes again, under another name: the same input, still one file.
        try FileManager.default.copyItem(atPath: path, toPath: folder.file("copy.png"))
        let again = try library.ingest(fileAt: folder.file("copy.png"), kind: .image, name: "copy.png")
        #expect(again.sha256 == input.sha256 && again.name == "copy.png")
        let kept = try FileManager.default.contentsOfDirectory(atPath: library.folder).filter { JobInput.isDigest($0) }
        #expect(kept == [input.sha256])
    }

    @Test func aClipIsDecodedToEveryFrame() throws {
        let size = FrameSize(width: 160, height: 120)
        let path = folder.file("clip.mp4")
        try MediaFiles.write((0..<40).map { MediaFiles.picture(size, index: $0) }, size: size, to: path)
        let input = try library.ingest(fileAt: path, kind: .video, name: "clip.mp4")
        #expect(input.kind == .video && input.frames == 40 && input.codec == "h264")
        #expect(input.width == 160 && input.height == 120)
    }

    @Test func preparingScalesToCoverTheJobAndCropsItsCentre() throws {
        // 400x100, three bands: red, then green over the middle half, then blue.
        let source = FrameSize(width: 400, height: 100)
        var pixels = [UInt8](repeating: 0, count: source.rgb24FrameBytes)
        for y in 0..<100 {
            for x in 0..<400 {
                let channel = x < 100 ? 0 : x < 300 ? 1 : 2
                pixels[(y * 400 + x) * 3 + channel] = 230
            }
        }
        try MediaFiles.write([pixels], size: source, to: folder.file("wide.png"))
        let input = try library.ingest(fileAt: folder.file("wide.png"), kind: .image, name: nil)
        // A 4:3 job: the 4:1 picture is scaled to 192x48 and its middle 64 columns kept,
        // all of them from the green half.
        let target = FrameSize(width: 64, height: 48)
        let frames = try library.prepare(input, size: target, into: folder.file("prepared.rgb"))
        #expect(frames == 1)
        let prepared = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder.file("prepared.rgb"))))
        #expect(prepared.count == target.rgb24FrameBytes)
        let mean = MediaFiles.meanColour(prepared, size: target, rows: 0..<48)
        #expect(mean.0 < 10 && mean.1 > 220 && mean.2 < 10, "\(mean)")

        // Same aspect ratio: a plain scale, pixel for pixel what ffmpeg's bicubic scaler gives.
        let size = FrameSize(width: 320, height: 240)
        try MediaFiles.write([MediaFiles.picture(size)], size: size, to: folder.file("same.png"))
        let same = try library.ingest(fileAt: folder.file("same.png"), kind: .image, name: nil)
        _ = try library.prepare(same, size: FrameSize(width: 160, height: 120), into: folder.file("same.rgb"))
        let scaled = try MediaFiles.decodeRGB(folder.file("same.png"), size: FrameSize(width: 160, height: 120), filter: "scale=160:120:flags=bicubic")
        let ours = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder.file("same.rgb"))))
        #expect(scaled.count == 1)
        #expect(MediaFiles.psnr(try #require(scaled.first), ours) > 45)
    }

    @Test func aClipIsPreparedFrameByFrame() throws {
        let size = FrameSize(width: 160, height: 120)
        let frames = (0..<36).map { MediaFiles.picture(size, index: $0 * 4) }
        try MediaFiles.write(frames, size: size, to: folder.file("clip.mp4"))
        let input = try library.ingest(fileAt: folder.file("clip.mp4"), kind: .video, name: nil)
        let count = try library.prepare(input, size: size, into: folder.file("clip.rgb"))
        #expect(count == 36)
        let prepared = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder.file("clip.rgb"))))
        let last = Array(prepared[(35 * size.rgb24FrameBytes)...])
        #expect(MediaFiles.psnr(frames[35], last) > 35)
    }

    @Test("what is not a picture is refused, saying why", arguments: [
        ("text.png", JobInput.Kind.image, "does not decode as an image"),
        ("truncated.mp4", .video, "does not decode as a video"),
        ("clip.mp4", .image, "is a video of 40 frames, not an image; give it as video"),
    ])
    func refusals(file: String, kind: JobInput.Kind, message: String) throws {
        let size = FrameSize(width: 160, height: 120)
        try MediaFiles.write((0..<40).map { MediaFiles.picture(size, index: $0) }, size: size, to: folder.file("clip.mp4"))
        let clip = try Data(contentsOf: URL(fileURLWithPath: folder.file("clip.mp4")))
        try Data("this is not a picture\n".utf8).write(to: URL(fileURLWithPath: folder.file("text.png")))
        // The first third: the header and a few frames, the index (at the end) missing.
        try clip.prefix(clip.count / 3).write(to: URL(fileURLWithPath: folder.file("truncated.mp4")))
        do {
            _ = try library.ingest(fileAt: folder.file(file), kind: kind, name: file)
            Issue.record("\(file) was taken")
        } catch let error as InputError {
            #expect(error.field == kind.rawValue && error.reason == .invalid)
            #expect(error.message.contains(message), "\(error.message)")
        }
        let kept = (try? FileManager.default.contentsOfDirectory(atPath: library.folder)) ?? []
        #expect(kept.isEmpty, "nothing refused is kept, not even its upload: \(kept)")
    }

    @Test func aFileLargerThanItsKindMayBeIsRefusedAsItComesIn() throws {
        // 200 MB of (sparse) nothing, as an image: refused at the 8 MiB limit, not read to the end.
        let path = folder.file("huge.png")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, 200 << 20) == 0)
        do {
            _ = try library.ingest(fileAt: path, kind: .image, name: "huge.png")
            Issue.record("a 200 MB image was taken")
        } catch let error as InputError {
            #expect(error.reason == .tooLarge)
            #expect(error.message == "is larger than the 8 MiB an image may be")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: library.folder).isEmpty, "the partial upload is gone")
    }

    @Test func theSweepRemovesOnlyUnreferencedInputsPastTheirGrace() throws {
        let size = FrameSize(width: 64, height: 48)
        var inputs: [JobInput] = []
        for index in 0..<3 {
            try MediaFiles.write([MediaFiles.picture(size, index: index * 20)], size: size, to: folder.file("\(index).png"))
            inputs.append(try library.ingest(fileAt: folder.file("\(index).png"), kind: .image, name: nil))
        }
        let later = Date().addingTimeInterval(3_600)
        // Nothing is past its grace yet.
        #expect(library.sweep(keeping: [], unusedSince: Date().addingTimeInterval(-3_600)).isEmpty)
        // An hour on: the unreferenced one goes, the referenced ones stay.
        let removed = library.sweep(keeping: [inputs[0].sha256, inputs[2].sha256], unusedSince: later)
        #expect(removed == [inputs[1].sha256])
        #expect(library.describe(inputs[1].sha256) == nil && library.describe(inputs[0].sha256) != nil)
    }
}
