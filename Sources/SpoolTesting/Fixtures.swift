import Foundation
import SpoolCore

/// Ready-made specs and pipelines for tests.
public enum Fixtures {
    /// A CPU pipeline shaped like Helios: 33-frame chunks, no overlap; it takes an image, a
    /// clip of at least 33 frames, and a prompt schedule.
    public static let syntheticPipeline = PipelineDefinition(
        name: "synthetic",
        command: ["{bin}/spool-synthetic-worker"],
        chunking: .init(frames: 33),
        sizes: .init(default: FrameSize(width: 640, height: 384)),
        inputs: .init(image: true, video: true, prompts: true, minVideoFrames: 33))

    /// A CUDA-only pipeline allowed a single size, like Helios.
    public static let cudaPipeline = PipelineDefinition(
        name: "helios",
        command: ["python3", "{pipelines}/helios/worker.py"],
        chunking: .init(frames: 33),
        sizes: .init(default: FrameSize(width: 640, height: 384), allowed: [FrameSize(width: 640, height: 384)]),
        requiresCUDA: true)

    public static let catalog = PipelineCatalog([syntheticPipeline, cudaPipeline])

    /// A small valid spec, resolved against ``syntheticPipeline``.
    public static func spec(
        frames: Int = 48, priority: Int = 0, idempotencyKey: String? = nil, prompt: String = "a red fox in snow",
        size: FrameSize = FrameSize(width: 64, height: 48), seed: UInt64 = 7, pipeline: String = "synthetic"
    ) -> JobSpec {
        JobSpec(
            prompt: prompt, frames: frames, width: size.width, height: size.height, seed: seed,
            pipeline: pipeline, priority: priority, idempotencyKey: idempotencyKey)
    }

    /// An enqueue request for ``spec(frames:priority:idempotencyKey:prompt:size:seed:pipeline:)``.
    public static func request(
        _ spec: JobSpec = Fixtures.spec(), maxAttempts: Int = 3, at date: Date = Date()
    ) -> EnqueueRequest {
        EnqueueRequest(spec: spec, maxAttempts: maxAttempts, submittedAt: date)
    }

    /// The synthetic worker as a resident worker (protocol 2), loading for `loadSeconds`.
    public static func resident(
        name: String = "resident", arguments: [String] = [], loadSeconds: Double = 0, chunkFrames: Int = 8,
        startup: Double = 20, stall: Double = 10, cancel: Double = 5, maxJobsPerWorker: Int? = nil,
        gate: WorkerGate? = nil, gateFromChunk: Int = 0
    ) -> PipelineDefinition {
        var pipeline = synthetic(
            name: name, arguments: ["--load-seconds", String(loadSeconds)] + arguments, chunkFrames: chunkFrames,
            startup: startup, stall: stall, gate: gate, gateFromChunk: gateFromChunk)
        pipeline.resident = true
        pipeline.timeouts.cancelSeconds = cancel
        pipeline.maxJobsPerWorker = maxJobsPerWorker
        return pipeline
    }

    /// A small synthetic pipeline run as real worker processes: 8-frame chunks, 64x48,
    /// extra worker arguments (faults, costs) and short timeouts.
    public static func synthetic(
        name: String = "synthetic", arguments: [String] = [], chunkFrames: Int = 8, overlap: Int = 0,
        policy: OverlapPolicy = .drop, requiresCUDA: Bool = false, startup: Double = 10, stall: Double = 10,
        gate: WorkerGate? = nil, gateFromChunk: Int = 0
    ) -> PipelineDefinition {
        PipelineDefinition(
            name: name, command: ["{bin}/spool-synthetic-worker"] + arguments + (gate?.arguments(fromChunk: gateFromChunk) ?? []),
            chunking: .init(frames: chunkFrames, overlap: overlap, overlapPolicy: policy),
            sizes: .init(default: FrameSize(width: 64, height: 48)), requiresCUDA: requiresCUDA,
            timeouts: .init(startupSeconds: startup, stallSeconds: stall))
    }
}
