import Foundation
import SpoolCore
import SpoolMedia
import SpoolSynthetic
import SpoolTesting
import Testing

/// Issue 29, sound: chunks that carry PCM beside their frames become an AAC track in the MP4 and
/// the live preview, in sync with the pictures and exactly as long as the video. Each chunk's
/// sound is the synthetic tone, whose pitch says the chunk (300 Hz in chunk 0, 400 in chunk 1,
/// …), so the decoded track shows where each moment of sound came from.
@Suite("Sound: an AAC track beside the video", .enabled(if: MediaProbe.toolsAvailable, "ffmpeg/ffprobe are not installed"))
struct AudioTrackTests {
    let dir: TemporaryDirectory
    let size = FrameSize(width: 64, height: 48)

    init() throws { dir = try TemporaryDirectory("sound") }

    func session(frames: Int, overlap: Int, policy: OverlapPolicy = .drop, audio: AudioFormat, live: LivePreview? = nil) -> StreamingEncoder {
        StreamingEncoder(
            .init(
                workDir: dir.path, outputPath: dir.file("out.mp4"), size: size, targetFrames: frames, overlap: overlap,
                policy: policy, deleteConsumedChunks: true, live: live, audio: audio),
            encoders: FFmpegEncoderFactory(settings: .init(preset: "ultrafast")))
    }

    /// The output frames each chunk supplies, under `drop`: chunk 0 all of its own, each later
    /// chunk its frames past the overlap, the last trimmed to the job.
    func spans(_ chunks: [ChunkDescriptor], overlap: Int, frames: Int) -> [(chunk: Int, frames: Range<Int>)] {
        chunks.map { chunk in
            let start = chunk.index == 0 ? 0 : chunk.firstFrame + overlap
            return (chunk.index, start..<min(frames, chunk.endFrame))
        }
    }

    @Test("the track lasts exactly as long as the frames, each chunk's sound under its pictures", arguments: [
        AudioFormat(sampleRate: 48_000, channels: 2),
        // 1,837.5 samples a frame: frame n starts at sample ⌊n·44100/24⌋.
        AudioFormat(sampleRate: 44_100, channels: 1),
    ])
    func theTrackIsExactAndInSync(format: AudioFormat) async throws {
        // SkyReels-shaped: 20-frame chunks overlapping by 5, the overlap dropped; 50 frames asked
        // of chunks that cover 0..<50. Handed over out of order.
        let plan = ChunkPlan(chunkFrames: 20, overlap: 5)
        let chunks = try ChunkFiles.write(plan: plan, frames: 50, size: size, into: dir.path, tone: format)
        let encoder = session(frames: 50, overlap: 5, audio: format)
        for chunk in chunks.reversed() { try encoder.add(chunk) }
        let outcome = try await encoder.finish()
        #expect(outcome.video.frames == 50)

        let video = try MediaProbe(path: dir.file("out.mp4"))
        #expect(video.frames == 50 && video.streamDuration == "2.083333")
        let audio = try #require(try MediaProbe.audio(path: dir.file("out.mp4")), "the MP4 has no audio stream")
        #expect(audio.codec == "aac" && audio.sampleRate == format.sampleRate && audio.channels == format.channels)
        // The track lasts as long as the video, to the container's millisecond: the encoder's
        // priming is cut by the edit list and its last packet is short. The ffmpeg CLI decodes
        // whole AAC frames, so it plays up to one frame of padding past the end, never less than
        // the video (measured: 100,352 samples for 100,000 at 48 kHz, 92,160 for 91,875 at 44.1).
        #expect(abs(audio.duration - 50.0 / 24) < 0.001, "\(audio.duration) s")
        let samples = try MediaProbe.decodeAudio(path: dir.file("out.mp4"))
        let expected = format.start(ofFrame: 50, fps: 24)
        #expect((expected..<(expected + 1_024)).contains(samples.count), "\(samples.count) samples decoded; the video's are \(expected)")
        // Each chunk's pitch plays while its frames show; the later chunks' copies of the overlap
        // (in their own pitch) are dropped with the frames. Measured inside each span, 40 ms
        // clear of its edges (AAC smears a change over a frame of 1,024 samples).
        for span in spans(chunks, overlap: 5, frames: 50) {
            let guardBand = format.sampleRate / 25
            let from = format.start(ofFrame: span.frames.lowerBound, fps: 24) + guardBand
            let to = min(samples.count, format.start(ofFrame: span.frames.upperBound, fps: 24) - guardBand)
            let pitch = try #require(ToneAnalysis.frequency(samples[from..<to], sampleRate: format.sampleRate))
            let wanted = SyntheticTone.frequency(chunk: span.chunk)
            #expect(abs(pitch - wanted) < 3, "chunk \(span.chunk) (frames \(span.frames)) sounds at \(pitch) Hz; its tone is \(wanted)")
        }
        // Consumed chunks' sound files are deleted with their frames.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".pcm") }.isEmpty)
    }

    @Test func aCrossFadeFadesTheSoundAndTheTrimCutsIt() async throws {
        // 20-frame chunks blended over 5 frames, 42 frames asked of 50 made.
        let format = AudioFormat(sampleRate: 48_000, channels: 2)
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 20, overlap: 5), frames: 50, size: size, into: dir.path, tone: format)
        let encoder = session(frames: 42, overlap: 5, policy: .blend, audio: format)
        for chunk in chunks { try encoder.add(chunk) }
        _ = try await encoder.finish()
        let samples = try MediaProbe.decodeAudio(path: dir.file("out.mp4"))
        #expect(abs(samples.count - format.start(ofFrame: 42, fps: 24)) < 1_024)
        // Chunk 1's own frames (20..<30 of the output, clear of both fades) sound in its pitch.
        let pitch = try #require(ToneAnalysis.frequency(samples[41_920..<58_080], sampleRate: 48_000))
        #expect(abs(pitch - SyntheticTone.frequency(chunk: 1)) < 3, "\(pitch) Hz")
    }

    @Test func theLivePreviewCarriesTheSoundToo() async throws {
        let format = AudioFormat(sampleRate: 48_000, channels: 2)
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 24, overlap: 0), frames: 72, size: size, into: dir.path, tone: format)
        let live = LivePreview(folder: dir.file("live"), segmentFrames: 24)
        let encoder = session(frames: 72, overlap: 0, audio: format, live: live)
        for chunk in chunks { try encoder.add(chunk) }
        _ = try await encoder.finish()
        // The playlist's segments, joined after the initialisation segment, are one fragmented MP4.
        let playlist = try String(contentsOfFile: live.folder + "/" + LivePreview.playlistName, encoding: .utf8)
        #expect(playlist.contains("#EXT-X-ENDLIST"))
        var joined = try Data(contentsOf: URL(fileURLWithPath: live.folder + "/" + LivePreview.initName))
        for name in playlist.split(separator: "\n") where name.hasSuffix(".m4s") {
            joined += try Data(contentsOf: URL(fileURLWithPath: live.folder + "/" + name))
        }
        try joined.write(to: URL(fileURLWithPath: dir.file("preview.mp4")))
        let audio = try #require(try MediaProbe.audio(path: dir.file("preview.mp4")), "the live preview has no sound")
        #expect(audio.codec == "aac" && audio.channels == 2)
        let samples = try MediaProbe.decodeAudio(path: dir.file("preview.mp4"))
        // A fragmented MP4 carries no edit list here, so a player also hears the encoder's 1,024
        // priming samples: measured 145,408 for the video's 144,000.
        #expect((144_000..<(144_000 + 2_048)).contains(samples.count), "\(samples.count) samples in the preview; the video's are 144000")
        let pitch = try #require(ToneAnalysis.frequency(samples[50_000..<94_000], sampleRate: 48_000))
        #expect(abs(pitch - SyntheticTone.frequency(chunk: 1)) < 3, "\(pitch) Hz")
    }

    @Test func aChunkWhoseSoundIsGoneFailsNamingIt() async throws {
        let format = AudioFormat(sampleRate: 48_000, channels: 2)
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 16, overlap: 0), frames: 32, size: size, into: dir.path, tone: format)
        try FileManager.default.removeItem(atPath: dir.file(try #require(chunks[1].audio).file))
        let encoder = session(frames: 32, overlap: 0, audio: format)
        for chunk in chunks { try? encoder.add(chunk) }
        await #expect { _ = try await encoder.finish() } throws: { error in
            "\(error)".contains("chunk 1") && "\(error)".contains("audio file chunk-00001.pcm")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.mp4")), "a failed video is removed")
    }

    @Test func aChunksSoundIsCheckedAgainstThePipelinesFormat() throws {
        let format = AudioFormat(sampleRate: 48_000, channels: 2)
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 16, overlap: 0), frames: 16, size: size, into: dir.path, tone: format)
        let audio = try #require(chunks[0].audio)
        #expect(try audio.validatedPath(in: dir.path, chunk: chunks[0], expected: format, fps: 24) == dir.file(audio.file))
        #expect(throws: ChunkError.self) {
            try audio.validatedPath(in: dir.path, chunk: chunks[0], expected: AudioFormat(sampleRate: 24_000, channels: 2), fps: 24)
        }
        var short = audio
        short.samples -= 1
        #expect { try short.validatedPath(in: dir.path, chunk: chunks[0], expected: format, fps: 24) } throws: { error in
            "\(error)".contains("holds 31999 samples for 16 frames") && "\(error)".contains("need 32000")
        }
        var lying = audio
        lying.file = "../elsewhere.pcm"
        #expect(throws: ChunkError.self) { try lying.validatedPath(in: dir.path, chunk: chunks[0], expected: format, fps: 24) }
        #expect(AudioFormat(sampleRate: 1_000, channels: 3).problems.count == 2)
    }
}
