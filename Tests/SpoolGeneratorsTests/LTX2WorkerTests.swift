import Foundation
import SpoolCore
import SpoolGenerators
import SpoolTesting
import Testing

/// `Pipelines/ltx2/worker.py` run for real: a resident worker over protocol 2 on a tiny randomly
/// initialised LTX-2 checkpoint, through diffusers' own `LTX2Pipeline` and `LTX2ConditionPipeline`
/// on the CPU, its pictures and its sound made together. What reached the pipeline is read from
/// the worker's trace (`SPOOL_LTX2_TRACE`).
@Suite("LTX-2 worker on the real diffusers pipelines", .serialized, .enabled(if: TinyModels.isAvailable), .takesTurns)
struct LTX2WorkerTests {
    static let size = FrameSize(width: 96, height: 64)

    static func worker(audio: AudioFormat? = TinyLTX2.audio) async throws -> TracedWorker {
        try await TracedWorker(size: size) { trace in try await TinyLTX2.pipeline(trace: trace, audio: audio) }
    }

    @Test func ltx2ChainsClipsWithTheirSoundTakesAnImageAndLoadsOnce() async throws {
        let worker = try await Self.worker()
        let ready = try await worker.harness.worker.waitUntilReady()
        #expect(ready.report.worker == "ltx2 LTX2Pipeline diffusers on cpu, sound at 16000 Hz")
        // 33 frames in clips of 17 carrying 9: three clips, each with its sound, 16 kHz stereo,
        // exactly its frames' samples on the job's timeline (frame n starts at ⌊n·16000/24⌋).
        let chunks = KeptChunks()
        let chained = await worker.run(frames: 33, onEvent: chunks.keep)
        #expect(chained.error == nil && chained.isDone, "\(String(describing: chained.error))")
        #expect(chained.chunks.map(\.frames) == [17, 17, 17] && chained.chunks.map(\.firstFrame) == [0, 8, 16])
        #expect(chained.chunks.map { $0.audio?.samples } == [11_333, 11_333, 11_334])
        #expect(chained.chunks.allSatisfy { $0.audio?.sampleRate == 16_000 && $0.audio?.channels == 2 })
        let clips = worker.lastClips
        #expect(clips.map { $0["pipeline"] as? String } == ["LTX2Pipeline", "LTX2ConditionPipeline", "LTX2ConditionPipeline"])
        let settings = clips.first?["settings"] as? [String: any Sendable]
        #expect(settings?["guidance_scale"] as? Double == 3.0 && settings?["audio_guidance_scale"] as? Double == 7.0)
        let frameBytes = Self.size.rgb24FrameBytes
        let written = chunks.all
        for k in 1..<3 {
            let lastNine = try #require(written[k - 1]).suffix(9 * frameBytes)
            #expect(clips[k]["condition_frames"] as? Int == 9)
            #expect(clips[k]["condition"] as? String == sha256Hex(Data(lastNine)), "clip \(k) did not continue clip \(k - 1)")
        }

        // I2V, with a job's options: the image, pixel for pixel, conditions the only clip.
        let inputs = try TemporaryDirectory("ltx2-inputs")
        defer { inputs.remove() }
        let image = Data((0..<frameBytes).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try image.write(to: URL(fileURLWithPath: inputs.file("first.rgb")))
        let i2v = await worker.run(
            frames: 9, options: ["guidance_scale": "1.0", "audio_guidance_scale": "1.0"],
            conditioning: WorkerConditioning(imageFile: inputs.file("first.rgb")))
        #expect(i2v.error == nil && i2v.chunks.map(\.frames) == [9], "\(String(describing: i2v.error))")
        #expect(i2v.chunks.first?.audio?.samples == 6_000)
        let clip = try #require(worker.lastClips.first)
        #expect(clip["pipeline"] as? String == "LTX2ConditionPipeline" && clip["condition"] as? String == sha256Hex(image))
        #expect((clip["settings"] as? [String: any Sendable])?["guidance_scale"] as? Double == 1.0)
        #expect(worker.trace.records("load").count == 1, "the second job did not load the model again")
    }

    @Test func ltx2ContinuesAClipFromItsLastFramesWithItsOwnSound() async throws {
        let worker = try await TracedWorker(size: Self.size) { trace in try await TinyLTX2.pipeline(clipFrames: 25, trace: trace) }
        let outcome = try await expectContinuesAClip(worker, family: "LTX-2", pipeline: "LTX2ConditionPipeline", size: Self.size)
        // Each chunk's sound covers its frames: the first chunk's its 16 new frames' (not the
        // clip's 9), the second's frames 7 to 31 on the job's timeline.
        #expect(outcome.chunks.map { $0.audio?.samples } == [10_666, 16_667])
    }

    @Test func aCancelKeepsTheModelAndBadRequestsFailAlone() async throws {
        let worker = try await Self.worker()
        let cancelled = await worker.run(frames: 33) { event, _, run in
            if case .progress(1, 1, _) = event { Thread { run.cancel(reason: "cancelled by the test") }.start() }
        }
        #expect(cancelled.error?.kind == .cancelled, "\(String(describing: cancelled.error))")
        #expect(cancelled.chunks.map(\.index) == [0])
        for (size, options, message) in [
            (FrameSize(width: 80, height: 64), [String: String](), "80x64: LTX-2 makes sides that are multiples of 32"),
            (Self.size, ["steps": "0"], "bad option value steps='0'"),
            (Self.size, ["shift": "1"], "unknown option shift"),
        ] {
            let outcome = await worker.run(frames: 9, size: size, options: options)
            #expect(outcome.error?.kind == .jobFailed && outcome.error?.message.contains(message) == true,
                    "\(outcome.error?.message ?? "no error")")
        }
        let after = await worker.run(frames: 9)
        #expect(after.error == nil, "\(String(describing: after.error))")
        #expect(worker.trace.records("load").count == 1, "nothing above reloaded the model")
    }

    @Test func aPipelineFileThatMisstatesTheSoundFailsItsJobsSayingWhy() async throws {
        let wrongRate = try await Self.worker(audio: AudioFormat(sampleRate: 24_000, channels: 2))
        let refused = await wrongRate.run(frames: 9)
        #expect(refused.error?.message.contains("the pipeline file declares 24000 Hz; this checkpoint's vocoder makes 16000 Hz") == true,
                "\(refused.error?.message ?? "no error")")
        let silent = try await Self.worker(audio: nil)
        let noSound = await silent.run(frames: 9)
        #expect(noSound.error?.message.contains("LTX-2 makes sound: its pipeline file must declare \"audio\"") == true,
                "\(noSound.error?.message ?? "no error")")
    }
}
