import Foundation
import SpoolCore
import SpoolGenerators
import SpoolTesting
import Testing

/// `Pipelines/wan/worker.py` run for real: a resident worker process over protocol 2, on tiny
/// randomly initialised Wan checkpoints, through diffusers' own `WanPipeline` and
/// `WanImageToVideoPipeline` on the CPU. What reached the pipeline is read from the worker's
/// trace (`SPOOL_WAN_TRACE`).
@Suite("Wan worker on the real diffusers pipelines", .serialized, .enabled(if: TinyModels.isAvailable), .takesTurns)
struct WanWorkerTests {
    static func worker(_ layout: TinyWan.Layout, options: [String: String] = ["steps": "2"], checkpoints: Bool = false) async throws -> TracedWorker {
        try await TracedWorker(size: FrameSize(width: 64, height: 48)) { trace in
            try await TinyWan.pipeline(layout, options: options, trace: trace, checkpoints: checkpoints)
        }
    }



    @Test func wanT2VMakesOneClipAtItsPublishedSettingsAndRefusesWhatItCannotMake() async throws {
        let worker = try await Self.worker(.t2v, options: [:])
        let ready = try await worker.harness.worker.waitUntilReady()
        #expect(ready.report.worker == "wan-t2v WanPipeline diffusers on cpu")

        // 7 frames: one clip on the 4k+1 grid, 9 frames (Spool trims the rest).
        let published = await worker.run(frames: 7, options: ["steps": "2"])
        #expect(published.error == nil && published.isDone, "\(String(describing: published.error))")
        #expect(published.chunks.map(\.frames) == [9] && published.events.last == .done(frames: 9, chunks: 1))
        let clip = try #require(worker.lastClips.first)
        #expect(clip["pipeline"] as? String == "WanPipeline" && clip["guidance_scale"] as? Double == 5.0)
        #expect(clip["steps"] as? Int == 2)
        let guided = await worker.run(frames: 9, options: ["steps": "1", "guidance_scale": "1.0"])
        #expect(guided.error == nil)
        #expect(worker.lastClips.first?["guidance_scale"] as? Double == 1.0 && worker.lastClips.first?["steps"] as? Int == 1)

        // A T2V checkpoint has no way to continue a clip, nor to take an image.
        let inputs = try TemporaryDirectory("wan-t2v-inputs")
        try Data(count: 64 * 48 * 3).write(to: URL(fileURLWithPath: inputs.file("first.rgb")))
        let long = await worker.run(frames: 20, options: ["steps": "1"])
        #expect(long.error?.message.contains("cannot continue a clip from its last frame: at most 9 frames") == true,
                "\(String(describing: long.error))")
        let image = await worker.run(frames: 9, options: ["steps": "1"], conditioning: WorkerConditioning(imageFile: inputs.file("first.rgb")))
        #expect(image.error?.message.contains("makes video from text only") == true, "\(String(describing: image.error))")
        #expect(worker.trace.records("load").count == 1, "one load for every job above")
    }

    @Test func wanTI2VChainsClipsEachFromTheLastFrameOfTheOneBefore() async throws {
        let worker = try await Self.worker(.ti2v)
        // 20 frames in clips of 9: 9 + 8 + 4 new frames, the last clip the shortest on the grid.
        let chunks = KeptChunks()
        let chained = await worker.run(frames: 20, onEvent: chunks.keep)
        #expect(chained.error == nil && chained.isDone, "\(String(describing: chained.error))")
        #expect(chained.chunks.map(\.frames) == [9, 9, 5] && chained.chunks.map(\.firstFrame) == [0, 8, 16])
        #expect(chained.events.last == .done(frames: 21, chunks: 3))
        let clips = worker.lastClips
        #expect(clips.map { $0["pipeline"] as? String } == ["WanPipeline", "WanImageToVideoPipeline", "WanImageToVideoPipeline"])
        #expect(clips.first?["image"] is NSNull || clips.first?["image"] == nil)
        let frameBytes = 64 * 48 * 3
        let written = chunks.all
        for k in 1..<3 {
            let before = try #require(written[k - 1])
            let lastFrame = before.suffix(frameBytes)
            #expect(clips[k]["image"] as? String == sha256Hex(Data(lastFrame)), "clip \(k) was not conditioned on clip \(k - 1)'s last frame")
            // And it starts from that frame, which Spool's overlap of 1 drops.
            #expect(try #require(written[k]).prefix(frameBytes).count == frameBytes)
        }

        // I2V: the job's image, pixel for pixel, conditions the first clip.
        let inputs = try TemporaryDirectory("wan-inputs")
        let image = Data((0..<frameBytes).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try image.write(to: URL(fileURLWithPath: inputs.file("first.rgb")))
        let i2v = await worker.run(frames: 9, conditioning: WorkerConditioning(imageFile: inputs.file("first.rgb")))
        #expect(i2v.error == nil && i2v.isDone, "\(String(describing: i2v.error))")
        #expect(worker.lastClips.first?["pipeline"] as? String == "WanImageToVideoPipeline")
        #expect(worker.lastClips.first?["image"] as? String == sha256Hex(image))
        #expect(worker.trace.records("load").count == 1, "the second job did not load the model again")
    }

    /// Wan 2.1 I2V: a CLIP vision tower encodes the image beside the VAE; every clip goes through
    /// WanImageToVideoPipeline, the first from the job's image, and a job without one is refused.
    @Test func wanI2VMakesEveryClipFromAnImageAndRefusesAJobWithoutOne() async throws {
        let worker = try await Self.worker(.i2v)
        let ready = try await worker.harness.worker.waitUntilReady()
        #expect(ready.report.worker == "wan-i2v WanImageToVideoPipeline diffusers on cpu")
        let frameBytes = 64 * 48 * 3
        let inputs = try TemporaryDirectory("wan-i2v")
        let image = Data((0..<frameBytes).map { UInt8(truncatingIfNeeded: $0 * 11) })
        try image.write(to: URL(fileURLWithPath: inputs.file("first.rgb")))
        let chunks = KeptChunks()
        let chained = await worker.run(frames: 20, conditioning: WorkerConditioning(imageFile: inputs.file("first.rgb")), onEvent: chunks.keep)
        #expect(chained.error == nil && chained.chunks.map(\.frames) == [9, 9, 5], "\(String(describing: chained.error))")
        let clips = worker.lastClips
        #expect(clips.allSatisfy { $0["pipeline"] as? String == "WanImageToVideoPipeline" } && clips.count == 3)
        #expect(clips.first?["image"] as? String == sha256Hex(image))
        #expect(clips[1]["image"] as? String == sha256Hex(Data(try #require(chunks.all[0]).suffix(frameBytes))))
        let none = await worker.run(frames: 9)
        #expect(none.error?.message.contains("makes video from a first image; the job gives none") == true,
                "\(String(describing: none.error))")
        #expect(worker.trace.records("load").count == 1)
    }

    @Test func aCancelStopsAtTheNextStepAndBadRequestsFailAloneWithTheModelKept() async throws {
        let worker = try await Self.worker(.ti2v)
        let cancelled = await worker.run(frames: 20) { event, _, run in
            if case .progress(1, 1, _) = event { Thread { run.cancel(reason: "cancelled by the test") }.start() }
        }
        #expect(cancelled.error?.kind == .cancelled, "\(String(describing: cancelled.error))")
        #expect(cancelled.chunks.map(\.index) == [0], "stopped within clip 1, at a denoising step")
        #expect(worker.harness.worker.isReady && worker.harness.exitsSeen == 0)

        let inputs = try TemporaryDirectory("wan-bad")
        try Data(count: 100).write(to: URL(fileURLWithPath: inputs.file("small.rgb")))
        let bad: [(FrameSize, WorkerConditioning?, [String: String], String)] = [
            (FrameSize(width: 72, height: 48), nil, [:], "72x48: this Wan checkpoint makes sides that are multiples of 16"),
            (FrameSize(width: 64, height: 48), nil, ["steps": "0"], "steps 1…1000"),
            (FrameSize(width: 64, height: 48), nil, ["shift": "3"], "unknown option shift"),
            (FrameSize(width: 64, height: 48), WorkerConditioning(imageFile: inputs.file("small.rgb")), [:],
             "holds 100 bytes; 1 frame(s) of 64x48 RGB24 are 9216"),
        ]
        for (size, conditioning, options, message) in bad {
            let outcome = await worker.run(frames: 9, size: size, options: options, conditioning: conditioning)
            #expect(outcome.error?.kind == .jobFailed, "\(message)")
            #expect(outcome.error?.message.contains(message) == true, "\(outcome.error?.message ?? "no error")")
        }
        let good = await worker.run(frames: 9)
        #expect(good.error == nil && good.isDone)
        #expect(worker.trace.records("load").count == 1, "nothing above reloaded the model")
    }

    /// A clip depends on the frame before it and its own seed only: the state after clip k is
    /// that frame, and a resumed attempt makes exactly the uninterrupted run's clips k+1 on.
    @Test func aResumedWanJobMakesTheUninterruptedRunsFrames() async throws {
        let worker = try await Self.worker(.ti2v, checkpoints: true)
        let kept = try TemporaryDirectory("wan-state")
        defer { kept.remove() }
        let chunks = KeptChunks()
        let whole = await worker.run(frames: 20) { event, workDir, run in
            chunks.keep(event, workDir, run)
            if case .checkpoint(let checkpoint) = event, checkpoint.afterChunk == 0 {
                try? FileManager.default.copyItem(atPath: workDir + "/" + checkpoint.stateFile, toPath: kept.file("state"))
            }
        }
        #expect(whole.error == nil, "\(String(describing: whole.error))")
        #expect(whole.events.compactMap { if case .checkpoint(let c) = $0 { c.afterChunk } else { nil } } == [0, 1])
        let resumedChunks = KeptChunks()
        let resumed = await worker.run(
            frames: 20, resume: WorkerResume(afterChunk: 0, firstFrame: 8, stateFile: kept.file("state")),
            onEvent: resumedChunks.keep)
        #expect(resumed.error == nil, "\(String(describing: resumed.error))")
        #expect(resumed.chunks.map(\.index) == [1, 2] && resumed.chunks.first?.firstFrame == 8)
        #expect(resumed.events.last == .done(frames: 21, chunks: 3))
        let uninterrupted = chunks.all
        for (index, data) in resumedChunks.all {
            #expect(data == uninterrupted[index], "clip \(index) differs from the uninterrupted run's")
        }
        let other = await worker.run(
            frames: 20, prompt: "another prompt", resume: WorkerResume(afterChunk: 0, firstFrame: 8, stateFile: kept.file("state")))
        #expect(other.error?.message.contains("made for another job") == true, "\(String(describing: other.error))")
    }
}
