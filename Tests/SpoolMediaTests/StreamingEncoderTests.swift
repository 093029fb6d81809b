import Foundation
import SpoolCore
import SpoolMedia
import SpoolSynthetic
import SpoolTesting
import Testing

@Suite("Streaming MP4 encoder", .enabled(if: MediaProbe.toolsAvailable, "ffmpeg/ffprobe are not installed"))
struct StreamingEncoderTests {
    let dir: TemporaryDirectory
    let size = FrameSize(width: 128, height: 96)

    init() throws { dir = try TemporaryDirectory("media") }

    func session(
        frames: Int, overlap: Int = 0, policy: OverlapPolicy = .drop, size: FrameSize? = nil,
        settings: EncoderSettings = .init(), delete: Bool = false
    ) -> StreamingEncoder {
        StreamingEncoder(
            .init(
                workDir: dir.path, outputPath: dir.file("out.mp4"), posterPath: dir.file("poster.png"),
                size: size ?? self.size, targetFrames: frames, overlap: overlap, policy: policy, deleteConsumedChunks: delete),
            encoders: FFmpegEncoderFactory(settings: settings))
    }

    @Test func shuffledHeliosChunksEncodeInOrderTrimmedToTheRequest() async throws {
        // 70 frames asked: Helios makes 3 chunks (99 decoded, 97 kept); Spool keeps 70.
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 33, overlap: 0, trim: .helios), frames: 70, size: size, seed: 9, into: dir.path)
        #expect(chunks.map(\.frames) == [33, 33, 31])
        let encoder = session(frames: 70, delete: true)
        for chunk in [chunks[2], chunks[0], chunks[1]] { try encoder.add(chunk) }
        let outcome = try await encoder.finish()
        #expect(outcome.video.frames == 70)

        let probe = try MediaProbe(path: dir.file("out.mp4"))
        #expect(probe.codec == "h264")
        #expect(probe.pixelFormat == "yuv420p")
        #expect(probe.frames == 70)
        #expect(probe.frameRate == "24/1")
        #expect(probe.streamDuration == "2.916667")
        #expect(probe.duration == "2.917000")  // the movie header's millisecond clock, as with the ffmpeg CLI
        #expect(probe.formatName.contains("mp4"))

        let frames = try MediaProbe.decodeLuma(path: dir.file("out.mp4"), size: size)
        #expect(frames.count == 70)
        let decoded = frames.map { luma in luma.withUnsafeBytes { TestPattern.decode(luma: $0, width: 128, height: 96) } }
        #expect(decoded.map(\.index) == Array(0..<70))
        #expect(decoded.allSatisfy { $0.seedBits == 9 })
        // Consumed chunk files are deleted; the poster is the first frame.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".rgb") }.isEmpty)
        let poster = try MediaProbe(path: dir.file("poster.png"))
        #expect(poster.codec == "png" && poster.width == 128 && poster.height == 96)
    }

    @Test func droppedOverlapKeepsTheEarlierChunksFrames() async throws {
        // SkyReels-style: 20-frame chunks overlapping by 5. The later chunk's copies of the
        // overlap carry a wrong index, so decoding shows whether they leaked into the video.
        let plan = ChunkPlan(chunkFrames: 20, overlap: 5)
        var firstFrameOf: [Int: Int] = [:]
        for (index, chunk) in plan.chunks(forFrames: 50).enumerated() { firstFrameOf[index] = chunk.firstFrame }
        let chunks = try ChunkFiles.write(plan: plan, frames: 50, size: size, into: dir.path) { chunk, frame, buffer in
            let reRendered = chunk > 0 && frame < firstFrameOf[chunk]! + 5
            TestPattern.render(index: reRendered ? frame + 1_000 : frame, seed: 5, width: 128, height: 96, into: buffer)
        }
        let encoder = session(frames: 50, overlap: 5, policy: .drop)
        for chunk in chunks.reversed() { try encoder.add(chunk) }
        _ = try await encoder.finish()
        let frames = try MediaProbe.decodeLuma(path: dir.file("out.mp4"), size: size)
        let indices = frames.map { luma in luma.withUnsafeBytes { TestPattern.decode(luma: $0, width: 128, height: 96).index } }
        #expect(indices == Array(0..<50))
    }

    @Test func blendedOverlapFadesLinearly() async throws {
        // FramePack-style cross-fade: a black chunk then a white one, overlapping by 7.
        let plan = ChunkPlan(chunkFrames: 14, overlap: 7)
        let chunks = try ChunkFiles.write(plan: plan, frames: 21, size: size, into: dir.path) { chunk, _, buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: chunk == 0 ? 0 : 255)
        }
        let encoder = session(frames: 21, overlap: 7, policy: .blend)
        try encoder.add(chunks[1])
        try encoder.add(chunks[0])
        _ = try await encoder.finish()
        let means = try MediaProbe.decodeLuma(path: dir.file("out.mp4"), size: size).map { luma in
            Double(luma.reduce(0) { $0 + Int($1) }) / Double(luma.count)
        }
        #expect(means.count == 21)
        let black = means[0]
        let white = means[20]
        #expect(means[0..<7].allSatisfy { abs($0 - black) < 3 })
        #expect(means[14..<21].allSatisfy { abs($0 - white) < 3 })
        // Fade frame i (1…7) sits at i/8 of the way from black to white.
        for i in 1...7 {
            let expected = black + (white - black) * Double(i) / 8
            #expect(abs(means[6 + i] - expected) < 6, "fade frame \(i): \(means[6 + i]) vs \(expected)")
        }
    }

    @Test func sixtySecondsIsExactly1440FramesAndSixtySeconds() async throws {
        let small = FrameSize(width: 64, height: 48)
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 33, overlap: 0, trim: .helios), frames: 1_440, size: small, into: dir.path)
        #expect(chunks.count == 44)
        let encoder = session(frames: 1_440, size: small, settings: .init(preset: "ultrafast"), delete: true)
        for chunk in chunks { try encoder.add(chunk) }
        _ = try await encoder.finish()
        let probe = try MediaProbe(path: dir.file("out.mp4"))
        #expect(probe.frames == 1_440)
        #expect(probe.duration == "60.000000")
        #expect(probe.streamDuration == "60.000000")
    }

    @Test("every codec writes the stream it names", arguments: [
        (EncoderSettings.Codec.h265, "hevc"), (.av1, "av1"),
    ])
    func otherCodecs(codec: EncoderSettings.Codec, probeName: String) async throws {
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 12, overlap: 0), frames: 24, size: size, into: dir.path)
        let encoder = session(frames: 24, settings: .init(codec: codec, preset: codec == .av1 ? "12" : "ultrafast"))
        for chunk in chunks { try encoder.add(chunk) }
        _ = try await encoder.finish()
        let probe = try MediaProbe(path: dir.file("out.mp4"))
        #expect(probe.codec == probeName)
        #expect(probe.frames == 24)
        #expect(probe.duration == "1.000000")
    }

    /// The encoding thread takes the priority it is given before it opens the encoder, so
    /// the encoder's own threads inherit it. Nice 7 marks this test's threads apart from
    /// those of tests running beside it (which encode in the idle class).
    @Test("encoding runs at the priority it is given", arguments: [EncodingPriority.idle, .nice(7)])
    func encodingRunsAtItsPriority(priority: EncodingPriority) async throws {
        let size = FrameSize(width: 320, height: 240)
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 33, overlap: 0), frames: 66, size: size, into: dir.path)
        let (firstChunk, encoded) = AsyncStream.makeStream(of: ThreadScheduling?.self)
        let encoder = StreamingEncoder(
            .init(workDir: dir.path, outputPath: dir.file("out.mp4"), size: size, targetFrames: 66, priority: priority),
            encoders: FFmpegEncoderFactory(settings: .init()),
            onProgress: { frames in if frames == 33 { encoded.yield(ThreadScheduling.current) } })
        try encoder.add(chunks[0])
        var iterator = firstChunk.makeAsyncIterator()
        let encodingThread = try #require(await iterator.next() ?? nil)
        // Between chunks the encoder is open, so every thread it started is alive.
        let named = ThreadScheduling.threads(named: "spool-encoder")
        try encoder.add(chunks[1])
        #expect(try await encoder.finish().video.frames == 66)

        switch priority {
        case .idle:
            #expect(encodingThread.policy == .idle)
            #expect(named.filter { $0.policy == .idle }.count >= 2)
        case .nice(let value):
            #expect(encodingThread.policy == .normal && encodingThread.nice == Int(value))
            // The encoding thread and at least one of x264's.
            #expect(named.filter { $0.policy == .normal && $0.nice == Int(value) }.count >= 2)
        }
    }

    /// What a session tells its producer and its watcher, in order.
    enum Signal: Equatable, Sendable {
        case hold(Bool)
        case progress(Int)
    }

    func boundedSession(frames: Int, limit: Int, encoders: any VideoEncoderFactory) -> (StreamingEncoder, AsyncStream<Signal>) {
        let (signals, signal) = AsyncStream.makeStream(of: Signal.self)
        let encoder = StreamingEncoder(
            .init(workDir: dir.path, outputPath: dir.file("out.mp4"), size: size, targetFrames: frames, backlogLimitBytes: limit),
            encoders: encoders, onProgress: { signal.yield(.progress($0)) }, hold: { signal.yield(.hold($0)) })
        return (encoder, signals)
    }

    @Test func aBacklogOverTheLimitHoldsTheProducerUntilTheEncoderIsHalfwayBack() async throws {
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 12, overlap: 0), frames: 48, size: size, into: dir.path)
        let chunkBytes = 12 * size.rgb24FrameBytes
        let gate = GatedEncoderFactory(wrapping: FFmpegEncoderFactory(settings: .init(preset: "ultrafast")))
        let (encoder, signals) = boundedSession(frames: 48, limit: chunkBytes * 5 / 2, encoders: gate)
        // Four chunks while the encoder cannot encode: the third takes the backlog past 2.5 chunks.
        for chunk in chunks { try encoder.add(chunk) }
        #expect(encoder.backlog == 4 * chunkBytes)
        gate.open()
        let video = try await encoder.finish().video
        #expect(video.frames == 48)
        #expect(encoder.backlog == 0)
        // Held once, and let go when 1 chunk of 4 was left (at most half the limit), not at the end.
        var seen: [Signal] = []
        for await signal in signals {
            seen.append(signal)
            if signal == .progress(48) { break }
        }
        #expect(seen == [.hold(true), .progress(12), .progress(24), .hold(false), .progress(36), .progress(48)])
    }

    /// A cancel (a job cancelled, a host draining, an attempt fenced) does not wait its turn
    /// behind the chunks queued for the encoder: they are dropped, and the chunk being encoded
    /// stops at its next frame. Encoding runs at idle priority, so behind a backlog a busy
    /// host's SIGTERM once waited for every queued frame to be encoded for nothing.
    @Test func aCancelGoesAheadOfTheQueuedChunksAndStopsAtTheNextFrame() async throws {
        let gate = GatedEncoderFactory(wrapping: FFmpegEncoderFactory(settings: .init(preset: "ultrafast")))
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 10, overlap: 0), frames: 100, size: size, into: dir.path)
        let encoder = StreamingEncoder(
            .init(workDir: dir.path, outputPath: dir.file("out.mp4"), posterPath: dir.file("poster.png"), size: size, targetFrames: 100),
            encoders: gate)
        for chunk in chunks { try encoder.add(chunk) }
        // The first frame is inside the encoder (held at the gate), nine chunks queued behind it.
        try await until("the first frame is at the gate") { gate.framesWaiting == 1 }
        encoder.cancel()
        gate.open()
        await encoder.cancelAndWait()
        #expect(encoder.error is CancellationError)
        #expect(gate.framesPassed == 1, "only the frame already in the encoder; nothing after the cancel")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.mp4")))
        #expect(!FileManager.default.fileExists(atPath: dir.file("poster.png")))
    }

    @Test func theProducerIsNeverHeldForAChunkTheEncoderWaitsFor() async throws {
        // The second chunk arrives first and cannot be placed; holding the producer now would
        // keep the first from ever being written.
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 12, overlap: 0), frames: 24, size: size, into: dir.path)
        let (encoder, signals) = boundedSession(
            frames: 24, limit: size.rgb24FrameBytes, encoders: FFmpegEncoderFactory(settings: .init(preset: "ultrafast")))
        var seen: [Signal] = []
        var iterator = signals.makeAsyncIterator()
        try encoder.add(chunks[1])
        while let signal = await iterator.next() {
            seen.append(signal)
            if signal == .progress(0) { break }
        }
        #expect(seen == [.hold(true), .hold(false), .progress(0)])
        try encoder.add(chunks[0])
        while let signal = await iterator.next() {
            seen.append(signal)
            if signal == .progress(24) { break }
        }
        #expect(seen.suffix(3) == [.hold(true), .hold(false), .progress(24)])
        #expect(try await encoder.finish().video.frames == 24)
    }

    @Test func nvencWithoutAGPUFailsClearly() throws {
        let hasGPU = (try? runProcess(["nvidia-smi", "-L"]).status) == 0
        try #require(!hasGPU, "this host has a GPU; NVENC is exercised on it by the GPU checks instead")
        let error = #expect(throws: MediaError.self) {
            _ = try FFmpegVideoEncoder(path: dir.file("nv.mp4"), size: size, fps: 24, settings: .init(codec: .h264NVENC))
        }
        #expect(error?.operation.contains("h264_nvenc") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.file("nv.mp4")))
    }

    // MARK: Malformed chunks

    func expectFailure(_ chunks: [ChunkDescriptor], frames: Int, containing text: String) async throws {
        let encoder = session(frames: frames)
        var thrown: (any Error)?
        do {
            for chunk in chunks { try encoder.add(chunk) }
            _ = try await encoder.finish()
        } catch {
            thrown = error
        }
        let message = thrown.map { "\($0)" } ?? "no error"
        #expect(message.contains(text), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.mp4")), "a failed encode leaves no partial MP4")
    }

    @Test func aShortChunkFileFailsNamingTheChunk() async throws {
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 10, overlap: 0), frames: 30, size: size, into: dir.path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file(chunks[1].file)))
        try handle.truncate(atOffset: 1_000)
        try handle.close()
        try await expectFailure(chunks, frames: 30, containing: "chunk 1 file chunk-00001.rgb is 1000 bytes; 10 frames of 128x96 RGB24 need 368640")
    }

    @Test func aMissingChunkFileFailsNamingTheChunk() async throws {
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 10, overlap: 0), frames: 30, size: size, into: dir.path)
        try FileManager.default.removeItem(atPath: dir.file(chunks[2].file))
        try await expectFailure(chunks, frames: 30, containing: "chunk 2 file chunk-00002.rgb cannot be opened")
    }

    @Test func aChunkOfTheWrongDimensionsFails() async throws {
        var chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 10, overlap: 0), frames: 20, size: size, into: dir.path)
        chunks[1].width = 64
        try await expectFailure(chunks, frames: 20, containing: "chunk 1 is 64x96 but the job is 128x96")
    }

    @Test func aGapFails() async throws {
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 10, overlap: 0), frames: 30, size: size, into: dir.path)
        var shifted = chunks[1]
        shifted.firstFrame = 12
        try await expectFailure([chunks[0], shifted, chunks[2]], frames: 30, containing: "chunk 1 starts at frame 12, leaving a gap")
    }

    @Test func tooFewFramesFails() async throws {
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 10, overlap: 0), frames: 20, size: size, into: dir.path)
        try await expectFailure(chunks, frames: 25, containing: "delivered 20 frames; the job needs 25")
    }

    @Test func aChunkSwappedForALinkNeverTouchesItsTarget() async throws {
        // A file outside the work folder, the size of a chunk, that a worker would like shrunk.
        let outside = try TemporaryDirectory("outside")
        defer { outside.remove() }
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 8, overlap: 0), frames: 16, size: size, into: dir.path)
        let target = outside.file("precious")
        let precious = Data(repeating: 7, count: chunks[0].expectedBytes)
        try precious.write(to: URL(fileURLWithPath: target))

        let gate = GatedEncoderFactory(wrapping: FFmpegEncoderFactory(settings: .init(preset: "ultrafast")))
        let encoder = StreamingEncoder(
            .init(workDir: dir.path, outputPath: dir.file("out.mp4"), size: size, targetFrames: 16, deleteConsumedChunks: true),
            encoders: gate)
        try encoder.add(chunks[0])
        // The encoder has opened chunk 0 and read its first frame: now swap the name for a link.
        try await until("the first frame waits at the gate") { gate.framesWaiting == 1 }
        let path = "\(dir.path)/\(chunks[0].file)"
        #expect(symlink(target, dir.file(".swap")) == 0)
        #expect(rename(dir.file(".swap"), path) == 0)
        gate.open()
        try encoder.add(chunks[1])
        let outcome = try await encoder.finish()
        #expect(outcome.video.frames == 16, "the frames read came from the file that was checked")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == precious, "the link's target was neither shrunk nor deleted")
        var info = stat()
        #expect(lstat(path, &info) != 0, "the link itself was removed")
    }

    @Test func aChunkThatIsALinkOrHasASecondLinkIsRefused() async throws {
        let outside = try TemporaryDirectory("outside")
        defer { outside.remove() }
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 8, overlap: 0), frames: 16, size: size, into: dir.path)
        // Chunk 0 becomes a link to a copy elsewhere; chunk 1 gains a hard link elsewhere.
        let copy = outside.file("copy")
        try FileManager.default.copyItem(atPath: "\(dir.path)/\(chunks[0].file)", toPath: copy)
        #expect(unlink("\(dir.path)/\(chunks[0].file)") == 0)
        #expect(symlink(copy, "\(dir.path)/\(chunks[0].file)") == 0)
        #expect(link("\(dir.path)/\(chunks[1].file)", outside.file("hard")) == 0)
        let expected = FrameSize(width: 128, height: 96)
        #expect(throws: ChunkError(chunk: 0, "file chunk-00000.rgb is a symbolic link; write the chunk itself")) {
            try chunks[0].validatedPath(in: dir.path, expectedSize: expected)
        }
        #expect(throws: ChunkError(chunk: 1, "file chunk-00001.rgb has 2 links; a chunk file must be the worker's own, with one")) {
            try chunks[1].validatedPath(in: dir.path, expectedSize: expected)
        }
        // The encoder refuses them the same way, and deletes neither target.
        let encoder = session(frames: 16, delete: true)
        try encoder.add(chunks[0])
        await #expect(throws: ChunkError.self) { try await encoder.finish() }
        #expect(FileManager.default.fileExists(atPath: copy) && FileManager.default.fileExists(atPath: outside.file("hard")))
    }
}
