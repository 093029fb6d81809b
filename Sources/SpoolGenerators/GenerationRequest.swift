import SpoolCore

/// One attempt at generating one job's frames.
public struct GenerationRequest: Sendable {
    public var jobID: JobID
    public var attempt: Int
    /// Resolved spec: size, seed and pipeline are set.
    public var spec: JobSpec
    public var pipeline: PipelineDefinition
    /// Folder the pipeline file came from, for `{pipelines}` in its command.
    public var pipelineFolder: String
    /// Where the worker writes its chunks; created by the caller, owned by this attempt.
    public var workDir: String
    /// The value of `CUDA_VISIBLE_DEVICES` for the worker: one GPU's index, or "" for none.
    public var cudaVisibleDevices: String
    /// Wall-clock limit for the whole attempt.
    public var timeLimitSeconds: Double?
    /// The job's image, clip or prompt schedule, prepared for the worker.
    public var conditioning: WorkerConditioning?
    /// Go on from a checkpoint; nil starts at frame 0.
    public var resume: WorkerResume?

    public init(
        jobID: JobID, attempt: Int, spec: JobSpec, pipeline: PipelineDefinition, pipelineFolder: String,
        workDir: String, cudaVisibleDevices: String, timeLimitSeconds: Double? = nil,
        conditioning: WorkerConditioning? = nil, resume: WorkerResume? = nil
    ) {
        self.jobID = jobID
        self.attempt = attempt
        self.spec = spec
        self.pipeline = pipeline
        self.pipelineFolder = pipelineFolder
        self.workDir = workDir
        self.cudaVisibleDevices = cudaVisibleDevices
        self.timeLimitSeconds = timeLimitSeconds
        self.conditioning = conditioning
        self.resume = resume
    }

    /// The frames' size, as the worker is asked for them.
    public var size: FrameSize { FrameSize(width: spec.width ?? pipeline.sizes.default.width, height: spec.height ?? pipeline.sizes.default.height) }

    /// The request the worker reads on stdin.
    public var workerRequest: WorkerRequest {
        var request = WorkerRequest(
            jobId: jobID.rawValue, attempt: attempt, prompt: spec.prompt, negativePrompt: spec.negativePrompt,
            frames: spec.frames, width: size.width, height: size.height, fps: spec.fps, seed: spec.seed ?? 0,
            chunkFrames: pipeline.chunking.frames, overlap: pipeline.chunking.overlap, workDir: workDir,
            options: pipeline.options.merging(spec.options) { _, job in job }
        ).conditioned(by: conditioning)
        request.resume = resume
        request.audio = pipeline.audio
        return request
    }
}
