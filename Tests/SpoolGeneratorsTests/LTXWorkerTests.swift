import Foundation
import SpoolCore
import SpoolGenerators
import SpoolTesting
import Testing

/// A job that continues a clip (V2V) on an LTX family's worker with clips of 25 frames carrying
/// 9: the first clip is conditioned on the clip's last 9 frames (through `pipeline`) and its
/// chunk leaves them out, so 30 frames are chunks of 16 (at 0) and 25 (at 7); a clip shorter
/// than the overlap fails alone, saying so.
@discardableResult
func expectContinuesAClip(
    _ worker: TracedWorker, family: String, pipeline: String, size: FrameSize
) async throws -> ResidentHarness.Outcome {
    let inputs = try TemporaryDirectory("continue-clip")
    defer { inputs.remove() }
    let frameBytes = size.rgb24FrameBytes
    let clip = Data((0..<(12 * frameBytes)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 997) })
    try clip.write(to: URL(fileURLWithPath: inputs.file("clip.rgb")))
    let outcome = await worker.run(frames: 30, conditioning: WorkerConditioning(videoFile: inputs.file("clip.rgb"), videoFrames: 12))
    #expect(outcome.error == nil && outcome.isDone, "\(String(describing: outcome.error))")
    #expect(outcome.chunks.map(\.frames) == [16, 25] && outcome.chunks.map(\.firstFrame) == [0, 7])
    #expect(outcome.events.last == .done(frames: 32, chunks: 2))
    let clips = worker.lastClips
    #expect(clips.map { $0["pipeline"] as? String } == [pipeline, pipeline])
    #expect(clips.first?["condition_frames"] as? Int == 9)
    #expect(clips.first?["condition"] as? String == sha256Hex(Data(clip.suffix(9 * frameBytes))), "clip 0 did not continue the clip's last 9 frames")

    let short = await worker.run(frames: 30, conditioning: WorkerConditioning(videoFile: inputs.file("clip.rgb"), videoFrames: 5))
    #expect(short.error?.message.contains("the clip to continue has 5 frames; \(family) continues from its last 9") == true,
            "\(short.error?.message ?? "no error")")
    return outcome
}

/// `Pipelines/ltx/worker.py` run for real: a resident worker over protocol 2 on a tiny randomly
/// initialised LTX-Video checkpoint, through diffusers' own `LTXPipeline` and
/// `LTXConditionPipeline` on the CPU. What reached the pipeline is read from the worker's trace
/// (`SPOOL_LTX_TRACE`).
@Suite("LTX-Video worker on the real diffusers pipelines", .serialized, .enabled(if: TinyModels.isAvailable), .takesTurns)
struct LTXWorkerTests {
    static let size = FrameSize(width: 96, height: 64)

    static func worker(checkpoints: Bool = false) async throws -> TracedWorker {
        try await TracedWorker(size: size) { trace in try await TinyLTX.pipeline(trace: trace, checkpoints: checkpoints) }
    }



    @Test func ltxChainsClipsFromTheLastFramesOfTheOneBeforeTakesAnImageAndLoadsOnce() async throws {
        let worker = try await Self.worker()
        let ready = try await worker.harness.worker.waitUntilReady()
        #expect(ready.report.worker == "ltx-video LTXPipeline diffusers on cpu")
        // 33 frames in clips of 17 carrying 9: 17 + 8 + 8, three clips.
        let chunks = KeptChunks()
        let chained = await worker.run(frames: 33, onEvent: chunks.keep)
        #expect(chained.error == nil && chained.isDone, "\(String(describing: chained.error))")
        #expect(chained.chunks.map(\.frames) == [17, 17, 17] && chained.chunks.map(\.firstFrame) == [0, 8, 16])
        let clips = worker.lastClips
        #expect(clips.map { $0["pipeline"] as? String } == ["LTXPipeline", "LTXConditionPipeline", "LTXConditionPipeline"])
        let settings = clips.first?["settings"] as? [String: any Sendable]
        #expect(settings?["guidance_scale"] as? Double == 3.0 && settings?["decode_timestep"] as? Double == 0.05)
        let frameBytes = Self.size.rgb24FrameBytes
        let written = chunks.all
        for k in 1..<3 {
            let lastNine = try #require(written[k - 1]).suffix(9 * frameBytes)
            #expect(clips[k]["condition_frames"] as? Int == 9)
            #expect(clips[k]["condition"] as? String == sha256Hex(Data(lastNine)), "clip \(k) did not continue clip \(k - 1)")
        }

        // I2V, with a job's options: the image, pixel for pixel, conditions the only clip.
        let inputs = try TemporaryDirectory("ltx-inputs")
        let image = Data((0..<frameBytes).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try image.write(to: URL(fileURLWithPath: inputs.file("first.rgb")))
        let i2v = await worker.run(
            frames: 9, options: ["guidance_scale": "1.0", "image_cond_noise_scale": "0"],
            conditioning: WorkerConditioning(imageFile: inputs.file("first.rgb")))
        #expect(i2v.error == nil && i2v.chunks.map(\.frames) == [9], "\(String(describing: i2v.error))")
        let clip = try #require(worker.lastClips.first)
        #expect(clip["pipeline"] as? String == "LTXConditionPipeline" && clip["condition"] as? String == sha256Hex(image))
        #expect((clip["settings"] as? [String: any Sendable])?["guidance_scale"] as? Double == 1.0)
        #expect(worker.trace.records("load").count == 1, "the second job did not load the model again")
    }

    // A clip to continue (V2V): the first clip is conditioned on the clip's last 9 frames, which
    // its chunk leaves out; 30 frames asked of clips of 25 carrying 9 are 16 + 16 new ones.
    @Test func ltxContinuesAClipFromItsLastFrames() async throws {
        let worker = try await TracedWorker(size: Self.size) { trace in try await TinyLTX.pipeline(clipFrames: 25, trace: trace) }
        try await expectContinuesAClip(worker, family: "LTX-Video", pipeline: "LTXConditionPipeline", size: Self.size)
    }

    @Test func aCancelKeepsTheModelBadRequestsFailAloneAndAResumeMakesTheUninterruptedFrames() async throws {
        let worker = try await Self.worker(checkpoints: true)
        let cancelled = await worker.run(frames: 33) { event, _, run in
            if case .progress(1, 1, _) = event { Thread { run.cancel(reason: "cancelled by the test") }.start() }
        }
        #expect(cancelled.error?.kind == .cancelled, "\(String(describing: cancelled.error))")
        #expect(cancelled.chunks.map(\.index) == [0])
        for (size, options, message) in [
            (FrameSize(width: 80, height: 64), [String: String](), "80x64: LTX-Video makes sides that are multiples of 32"),
            (Self.size, ["steps": "0"], "bad option value steps='0'"),
            (Self.size, ["shift": "1"], "unknown option shift"),
        ] {
            let outcome = await worker.run(frames: 9, size: size, options: options)
            #expect(outcome.error?.kind == .jobFailed && outcome.error?.message.contains(message) == true,
                    "\(outcome.error?.message ?? "no error")")
        }

        let kept = try TemporaryDirectory("ltx-state")
        defer { kept.remove() }
        let chunks = KeptChunks()
        let whole = await worker.run(frames: 33) { event, workDir, run in
            chunks.keep(event, workDir, run)
            if case .checkpoint(let checkpoint) = event, checkpoint.afterChunk == 0 {
                try? FileManager.default.copyItem(atPath: workDir + "/" + checkpoint.stateFile, toPath: kept.file("state"))
            }
        }
        #expect(whole.error == nil, "\(String(describing: whole.error))")
        let resumed = KeptChunks()
        let again = await worker.run(
            frames: 33, resume: WorkerResume(afterChunk: 0, firstFrame: 8, stateFile: kept.file("state")), onEvent: resumed.keep)
        #expect(again.error == nil && again.chunks.map(\.index) == [1, 2], "\(String(describing: again.error))")
        #expect(again.events.last == .done(frames: 33, chunks: 3))
        for (index, data) in resumed.all {
            #expect(data == chunks.all[index], "clip \(index) differs from the uninterrupted run's")
        }
        #expect(worker.trace.records("load").count == 1, "nothing above reloaded the model")
    }
}
