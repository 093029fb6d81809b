import Foundation
import SpoolCore
import SpoolGenerators
import SpoolTesting
import Testing

/// `Pipelines/helios/worker.py` run for real: a resident worker process over protocol 2, on
/// tiny randomly initialised Helios checkpoints, through the real diffusers pipelines on the
/// CPU. What reached the pipeline is read from the worker's trace (`SPOOL_HELIOS_TRACE`).
@Suite("Helios worker on the real diffusers pipelines", .serialized, .enabled(if: TinyHelios.isAvailable), .takesTurns)
struct HeliosWorkerTests {
    /// A worker on `layout`, its trace, and the harness that runs its jobs.
    struct Worker {
        let harness: ResidentHarness
        let trace: WorkerTrace

        init(
            _ layout: TinyHelios.Layout, options: [String: String] = [:], device: String? = "cpu", checkpoint: String? = nil,
            checkpoints: Bool = false
        ) async throws {
            let folder = try TemporaryDirectory("helios-trace")
            trace = WorkerTrace(path: folder.file("trace.jsonl"))
            harness = try ResidentHarness(
                try await TinyHelios.pipeline(
                    layout, options: options, trace: trace.path, device: device, folder: checkpoint, checkpoints: checkpoints))
        }

        func run(
            frames: Int, prompt: String = "a fox runs through snow", options: [String: String] = [:],
            conditioning: WorkerConditioning? = nil, resume: WorkerResume? = nil,
            onEvent: ((WorkerEvent, String, WorkerRun) -> Void)? = nil
        ) async -> ResidentHarness.Outcome {
            await harness.run(
                frames: frames, size: FrameSize(width: 128, height: 64), prompt: prompt, options: options,
                conditioning: conditioning, resume: resume, onEvent: onEvent)
        }

        /// The job id of the last job the trace saw a pipeline call for.
        var lastJob: String? { trace.records("call").last?["job_id"] as? String }

        /// The keyword arguments of the pipeline call of the last job.
        var lastCall: [String: any Sendable] { trace.records("call").last?["kwargs"] as? [String: any Sendable] ?? [:] }
    }

    static func progressSteps(_ outcome: ResidentHarness.Outcome) -> [Int: Int] {
        var steps: [Int: Int] = [:]
        for case .progress(let chunk, _, let total) in outcome.events { steps[chunk] = total }
        return steps
    }


    @Test func chunksStreamOutAtTheirDecodeTrimmedAsHeliosTrimsAndTheModelLoadsOnce() async throws {
        let worker = try await Worker(.base, options: ["steps": "2"])
        let ready = try await worker.harness.worker.waitUntilReady()
        #expect(ready.report.worker?.contains("HeliosPipeline") == true)

        // Chunk 0's file is complete and announced before the pipeline denoises chunk 1.
        var chunkZeroOnDiskDuringChunkOne: Bool?
        let long = await worker.run(frames: 80) { event, workDir, _ in
            if case .progress(1, _, _) = event, chunkZeroOnDiskDuringChunkOne == nil {
                chunkZeroOnDiskDuringChunkOne = FileManager.default.fileExists(atPath: workDir + "/chunk-00000.rgb")
            }
        }
        #expect(long.error == nil, "\(String(describing: long.error))")
        #expect(chunkZeroOnDiskDuringChunkOne == true, "chunk 0 was not written while chunk 1 was being denoised")
        // 80 frames: 3 chunks of 33 decoded = 99, trimmed by the pipeline's rule to 97.
        #expect(long.chunks.map(\.frames) == [33, 33, 31])
        #expect(long.chunks.map(\.firstFrame) == [0, 33, 66])
        if case .done(let frames, let chunks) = long.events.last {
            #expect(frames == 97 && chunks == 3)
        } else {
            Issue.record("the job did not end with done: \(long.events.suffix(2))")
        }
        #expect(Self.progressSteps(long) == [0: 2, 1: 2, 2: 2], "the pipeline file's steps reach the pipeline")

        let short = await worker.run(frames: 40)
        #expect(short.error == nil && short.chunks.map(\.frames) == [33, 32])
        #expect(worker.harness.worker.jobsServed == 2)
        #expect(worker.trace.records("load").count == 1, "the second job did not load the model again")
        #expect(WorkerLauncher.liveProcesses(inGroup: worker.harness.worker.processGroup) >= 1)
        worker.harness.worker.stop()
        try await until("the worker exits once its stdin closes") { worker.harness.exitsSeen == 1 }
    }

    @Test("each checkpoint runs its published settings, and a job's options win", arguments: [
        // layout, pipeline class, steps in chunk 0 with the published settings, job options,
        // steps in chunks 0 and 1 with them
        (TinyHelios.Layout.base, "HeliosPipeline", 50, ["steps": "3", "guidance_scale": "1.0"], [0: 3, 1: 3]),
        (.mid, "HeliosPyramidPipeline", 60, ["pyramid_steps": "1,1,1"], [0: 3, 1: 3]),
        // Distilled amplifies its first chunk: twice the steps there.
        (.distilled, "HeliosPyramidPipeline", 12, ["pyramid_steps": "1,2,1", "amplify_first_chunk": "true"], [0: 8, 1: 4]),
    ])
    func publishedSettings(
        layout: TinyHelios.Layout, pipeline: String, publishedSteps: Int, options: [String: String], stepsWithOptions: [Int: Int]
    ) async throws {
        let worker = try await Worker(layout)
        let published = await worker.run(frames: 1)
        #expect(published.error == nil, "\(String(describing: published.error))")
        #expect(published.chunks.map(\.frames) == [33], "one chunk: 33 frames, which Spool trims to 1")
        #expect(Self.progressSteps(published) == [0: publishedSteps])
        #expect(worker.trace.records("call").last?["pipeline"] as? String == pipeline)
        let call = worker.lastCall
        switch layout {
        case .base:
            #expect(call["num_inference_steps"] as? Int == 50 && call["guidance_scale"] as? Double == 5.0)
        case .mid:
            #expect(call["pyramid_num_inference_steps_list"] as? [Int] == [20, 20, 20])
            #expect(call["guidance_scale"] as? Double == 5.0 && call["is_amplify_first_chunk"] as? Bool == false)
        case .distilled:
            #expect(call["pyramid_num_inference_steps_list"] as? [Int] == [2, 2, 2])
            #expect(call["guidance_scale"] as? Double == 1.0 && call["is_amplify_first_chunk"] as? Bool == true)
        }

        let overridden = await worker.run(frames: 40, options: options)
        #expect(overridden.error == nil, "\(String(describing: overridden.error))")
        #expect(Self.progressSteps(overridden) == stepsWithOptions)
        #expect(worker.trace.records("load").count == 1)
    }

    @Test func anImageAClipAndAPromptScheduleReachThePipeline() async throws {
        let worker = try await Worker(.distilled)
        let inputs = try TemporaryDirectory("helios-inputs")
        let frameBytes = 128 * 64 * 3

        // I2V: the pipeline is handed the image, pixel for pixel.
        let image = Data((0..<frameBytes).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try image.write(to: URL(fileURLWithPath: inputs.file("first.rgb")))
        let i2v = await worker.run(frames: 40, conditioning: WorkerConditioning(imageFile: inputs.file("first.rgb")))
        #expect(i2v.error == nil && i2v.isDone, "\(String(describing: i2v.error))")
        let sentImage = worker.lastCall["image"] as? [String: any Sendable]
        #expect(sentImage?["size"] as? [Int] == [128, 64])
        #expect(sentImage?["sha256"] as? String == sha256Hex(image))

        // V2V: 40 frames of clip, all of them.
        let clip = Data((0..<(40 * frameBytes)).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        try clip.write(to: URL(fileURLWithPath: inputs.file("clip.rgb")))
        let v2v = await worker.run(frames: 40, conditioning: WorkerConditioning(videoFile: inputs.file("clip.rgb"), videoFrames: 40))
        #expect(v2v.error == nil && v2v.isDone, "\(String(describing: v2v.error))")
        let sentClip = worker.lastCall["video"] as? [String: any Sendable]
        #expect(sentClip?["frames"] as? Int == 40 && sentClip?["sha256"] as? String == sha256Hex(clip))

        // A schedule of three prompts, cut at chunks 1 and 2: each chunk's denoising passes see
        // exactly its prompt's text embedding.
        let schedule = [WorkerPrompt(chunk: 0, prompt: "a red fox"), WorkerPrompt(chunk: 1, prompt: "the blue sea"),
                        WorkerPrompt(chunk: 2, prompt: "a city at night")]
        // 99 frames: three chunks would keep 97, so the worker runs a fourth, on the last prompt.
        let cut = await worker.run(frames: 99, conditioning: WorkerConditioning(prompts: schedule))
        #expect(cut.error == nil && cut.chunks.count == 4, "\(String(describing: cut.error))")
        #expect(cut.chunks.reduce(0) { $0 + $1.frames } >= 99)
        let cutJob = try #require(worker.lastJob)
        let cutPrompts = try #require(worker.trace.records("prompts", job: cutJob).first)
        let embeds = try #require(cutPrompts["embeds"] as? [Double])
        #expect(Set(embeds).count == 3, "three prompts, three embeddings")
        for chunk in 0..<4 {
            #expect(seen(worker.trace, job: cutJob, chunk: chunk) == [embeds[min(chunk, 2)]], "chunk \(chunk)")
        }

        // The same schedule blended over one chunk: chunk 1 is halfway between the first two prompts.
        let blended = await worker.run(frames: 97, conditioning: WorkerConditioning(prompts: schedule, transitionChunks: 1))
        #expect(blended.error == nil, "\(String(describing: blended.error))")
        let blendJob = try #require(worker.lastJob)
        let chunkOne = try #require(seen(worker.trace, job: blendJob, chunk: 1).first)
        #expect(abs(chunkOne - (embeds[0] + embeds[1]) / 2) < 1e-3 * max(1, abs(embeds[0]) + abs(embeds[1])))
        #expect(seen(worker.trace, job: blendJob, chunk: 0) == [embeds[0]])
        #expect(worker.trace.records("load").count == 1)
    }

    /// The text embeddings the transformer was called with while denoising `chunk` (guidance
    /// 1.0: no unconditional pass).
    func seen(_ trace: WorkerTrace, job: String, chunk: Int) -> Set<Double> {
        Set(trace.records("transformer", job: job).filter { $0["chunk"] as? Int == chunk }.compactMap { $0["embeds"] as? Double })
    }


    @Test func aCancelStopsAtTheNextStepAndBadRequestsFailAloneWithTheModelKept() async throws {
        let worker = try await Worker(.distilled)
        let cancelled = await worker.run(frames: 99) { event, _, run in
            if case .progress(0, 1, _) = event { Thread { run.cancel(reason: "cancelled by the test") }.start() }
        }
        #expect(cancelled.error?.kind == .cancelled, "\(String(describing: cancelled.error))")
        #expect(cancelled.chunks.isEmpty, "stopped within chunk 0, at a denoising step")
        #expect(worker.harness.worker.isReady && worker.harness.exitsSeen == 0)

        let inputs = try TemporaryDirectory("helios-bad")
        try Data(count: 100).write(to: URL(fileURLWithPath: inputs.file("small.rgb")))
        let bad: [(WorkerConditioning?, [String: String], String)] = [
            (nil, ["pyramid_steps": "2,2"], "pyramid_steps three counts"),
            (nil, ["steps": "4"], "option steps applies to Helios-Base"),
            (WorkerConditioning(imageFile: inputs.file("small.rgb")), [:], "holds 100 bytes; 1 frame(s) of 128x64 RGB24 are 24576"),
            (WorkerConditioning(videoFile: inputs.file("small.rgb"), videoFrames: 10), [:], "video_file has 10 frames; Helios continues a clip of at least 33"),
            (WorkerConditioning(imageFile: inputs.file("missing.rgb")), [:], "missing.rgb cannot be read: No such file or directory"),
        ]
        for (conditioning, options, message) in bad {
            let outcome = await worker.run(frames: 40, options: options, conditioning: conditioning)
            #expect(outcome.error?.kind == .jobFailed, "\(message)")
            #expect(outcome.error?.message.contains(message) == true, "\(outcome.error?.message ?? "no error")")
        }
        let good = await worker.run(frames: 40)
        #expect(good.error == nil && good.isDone)
        #expect(worker.trace.records("load").count == 1, "nothing above reloaded the model")
    }

    @Test func withoutCUDAAndWithoutAskingForTheCPUTheWorkerRefusesToLoad() async throws {
        // ResidentHarness starts workers with CUDA_VISIBLE_DEVICES empty: no GPU is visible.
        let worker = try await Worker(.base, device: nil)
        do {
            _ = try await worker.harness.worker.waitUntilReady()
            Issue.record("the worker loaded on a host without a visible GPU")
        } catch let error as GenerationError {
            #expect(error.kind == .loadFailed)
            #expect(error.message.contains("exited with status 78"), "\(error.message)")
            #expect(error.stderrTail.contains("needs a CUDA GPU, and none is visible"), "\(error.stderrTail)")
            #expect(error.stderrTail.contains("SPOOL_HELIOS_DEVICE=cpu"))
        }
        #expect(worker.trace.records("load").isEmpty)
    }

    // The full-size benchmark (scripts/gpu-check.sh) runs the published 14 B Helios-Distilled
    // with random weights built on the GPU. Its two halves are held here, on the CPU: the worker
    // builds a checkpoint's named components from their configuration, and that configuration
    // is the published model's size and shapes.

    @Test func aBenchmarkCheckpointsTransformerAndVAEAreBuiltFromTheirConfigurationWithRandomWeights() async throws {
        let folder = try TemporaryDirectory("helios-random")
        defer { folder.remove() }
        let checkpoint = try await TinyHelios.randomWeightsCheckpoint(in: folder.path)
        let worker = try await Worker(.distilled, checkpoint: checkpoint)
        let outcome = await worker.run(frames: 33)
        #expect(outcome.error == nil && outcome.isDone, "\(outcome.error?.message ?? "")")
        #expect(outcome.chunks.count == 1)
        let load = try #require(worker.trace.records("load").first)
        #expect(load["random_weights"] as? [String] == ["transformer", "vae"])
        #expect((load["transformer_parameters"] as? Int ?? 0) > 0)
    }

    @Test func theFullSizeArchitectureIsThePublishedHeliosDistilledOnPyTorchsMetaDevice() async throws {
        let python = try #require(PythonTools.python)
        let result = try await onThread { try runProcess([python, Repository.pipelines + "/helios/full_size.py", "--check"]) }
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderr.suffix(2_000))")
        let line = try #require(result.stdoutText.split(separator: "\n").last)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let parameters = try #require(report["parameters"] as? Int)
        #expect(abs(Double(parameters) - 14e9) <= 0.03 * 14e9, "\(parameters) parameters")
        #expect(report["blocks"] as? Int == 40)
        #expect((report["problems"] as? [String])?.isEmpty == true, "\(report)")
    }

    // Checkpoints: the state after chunk k (the history latents the next chunk reads, the first
    // frame's latent) lets another attempt replay chunks 0…k without the model and make chunk
    // k+1 on exactly as an uninterrupted run does.
    @Test("a resumed Helios job makes the uninterrupted run's frames", arguments: [
        (TinyHelios.Layout.base, ["steps": "2"]), (.mid, ["pyramid_steps": "1,1,1"]), (.distilled, [:]),
    ])
    func aResumedJobMakesTheUninterruptedRunsFrames(layout: TinyHelios.Layout, options: [String: String]) async throws {
        let worker = try await Worker(layout, options: options, checkpoints: true)
        let kept = try TemporaryDirectory("helios-state")
        defer { kept.remove() }
        // 97 frames: three chunks. Keep each chunk's bytes and the state after chunk 0.
        let chunks = KeptChunks()
        let whole = await worker.run(frames: 97) { event, workDir, run in
            chunks.keep(event, workDir, run)
            if case .checkpoint(let checkpoint) = event, checkpoint.afterChunk == 0 {
                try? FileManager.default.copyItem(atPath: workDir + "/" + checkpoint.stateFile, toPath: kept.file("state"))
            }
        }
        #expect(whole.error == nil, "\(String(describing: whole.error))")
        #expect(whole.events.contains { if case .checkpoint(let c) = $0 { c.afterChunk == 1 } else { false } })
        let resumedChunks = KeptChunks()
        let resumed = await worker.run(
            frames: 97, resume: WorkerResume(afterChunk: 0, firstFrame: 33, stateFile: kept.file("state")), onEvent: resumedChunks.keep)
        #expect(resumed.error == nil, "\(String(describing: resumed.error))")
        #expect(resumed.chunks.map(\.index) == [1, 2] && resumed.chunks.first?.firstFrame == 33)
        #expect(resumed.events.last == .done(frames: 97, chunks: 3))
        let uninterrupted = chunks.all
        for (index, data) in resumedChunks.all {
            #expect(data == uninterrupted[index], "chunk \(index) differs from the uninterrupted run's")
        }
        // A state made for another job (another seed's prompt) is refused, saying why.
        let other = await worker.run(
            frames: 97, prompt: "another prompt", resume: WorkerResume(afterChunk: 0, firstFrame: 33, stateFile: kept.file("state")))
        #expect(other.error?.message.contains("made for another job") == true, "\(String(describing: other.error))")
        #expect(worker.trace.records("load").count == 1)
    }
}
