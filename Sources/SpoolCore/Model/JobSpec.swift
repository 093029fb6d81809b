/// What a user asks for: one text-to-video generation.
///
/// Optional fields are filled from the pipeline's defaults by ``resolved(with:seed:)``
/// before a job is stored, so a stored job always says exactly what ran.
public struct JobSpec: Hashable, Sendable, Codable {
    /// The longest video one job may ask for: 60 s at 24 FPS.
    public static let maxFrames = 1_440
    /// The only frame rate the models Spool serves are trained at.
    public static let supportedFPS = 24
    /// Prompts longer than this are rejected rather than silently truncated by a tokenizer.
    public static let maxPromptLength = 4_000
    public static let maxOutputNameLength = 128
    public static let maxLabels = 32
    public static let maxOptions = 16
    public static let maxScheduledPrompts = 32
    public static let maxTransitionChunks = 16
    /// The pipeline name that asks Spool to choose the pipeline (see ``tier``).
    public static let autoPipeline = "auto"

    public var prompt: String
    public var negativePrompt: String?
    /// Frames in the finished video, 1…1,440.
    public var frames: Int
    public var fps: Int
    public var width: Int?
    public var height: Int?
    /// Generation seed; a random one is chosen at submission when absent.
    public var seed: UInt64?
    /// Pipeline name, as in `Pipelines/<name>.json`; the host's default when absent;
    /// ``autoPipeline`` to have Spool choose one by ``tier``, ``deadlineSeconds`` and
    /// ``maxGpuSeconds`` (stored as the pipeline chosen, the choice in `Job.routing`).
    public var pipeline: String?
    /// With `"pipeline": "auto"`: which tier of `routes.json` to choose from (`standard` when
    /// absent).
    public var tier: RouteTier?
    /// With `"pipeline": "auto"`: the video must be done within this many seconds of
    /// submission, by each candidate's measured history.
    public var deadlineSeconds: Double?
    /// With `"pipeline": "auto"`: the most slot time the video may cost, by each candidate's
    /// measured history.
    public var maxGpuSeconds: Double?
    /// Higher runs first; -100…100.
    public var priority: Int
    /// Base name of the output files (`<name>.mp4`); the job id when absent.
    public var outputName: String?
    /// Submitting twice with the same key returns the first job instead of a new one.
    public var idempotencyKey: String?
    public var labels: [String: String]
    /// Wall-clock limit for one attempt, in seconds; the host's default when absent.
    public var timeLimitSeconds: Double?
    /// Worker settings for this job (`steps`, `guidance_scale`, …), over the pipeline file's
    /// `options`; only the names its `jobOptions` lists are accepted.
    public var options: [String: String]
    /// Image-to-video: the first frame to start from.
    public var image: JobInput?
    /// Video-to-video: a clip to continue.
    public var video: JobInput?
    /// With `video`: the MP4 starts with the clip, then the `frames` generated after it.
    public var includeInput: Bool
    /// A prompt that changes over time: each entry's prompt from its `at` (seconds of the
    /// generated video) on, the first at 0. Absent: `prompt` holds throughout.
    public var prompts: [ScheduledPrompt]?
    /// Chunks a change of prompt blends over; 0 cuts.
    public var transitionChunks: Int
    /// An http(s) URL told of this job's events by a signed POST (Standard Webhooks).
    public var webhook: String?
    /// Which events `webhook` is told of; every final one when absent.
    public var webhookEvents: [WebhookEvent]?

    public init(
        prompt: String,
        negativePrompt: String? = nil,
        frames: Int,
        fps: Int = JobSpec.supportedFPS,
        width: Int? = nil,
        height: Int? = nil,
        seed: UInt64? = nil,
        pipeline: String? = nil,
        priority: Int = 0,
        outputName: String? = nil,
        idempotencyKey: String? = nil,
        labels: [String: String] = [:],
        timeLimitSeconds: Double? = nil,
        options: [String: String] = [:],
        image: JobInput? = nil,
        video: JobInput? = nil,
        includeInput: Bool = false,
        prompts: [ScheduledPrompt]? = nil,
        transitionChunks: Int = 0,
        webhook: String? = nil,
        webhookEvents: [WebhookEvent]? = nil,
        tier: RouteTier? = nil,
        deadlineSeconds: Double? = nil,
        maxGpuSeconds: Double? = nil
    ) {
        self.tier = tier
        self.deadlineSeconds = deadlineSeconds
        self.maxGpuSeconds = maxGpuSeconds
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.frames = frames
        self.fps = fps
        self.width = width
        self.height = height
        self.seed = seed
        self.pipeline = pipeline
        self.priority = priority
        self.outputName = outputName
        self.idempotencyKey = idempotencyKey
        self.labels = labels
        self.timeLimitSeconds = timeLimitSeconds
        self.options = options
        self.image = image
        self.video = video
        self.includeInput = includeInput
        self.prompts = prompts
        self.transitionChunks = transitionChunks
        self.webhook = webhook
        self.webhookEvents = webhookEvents
    }

    enum CodingKeys: String, CodingKey {
        case prompt, negativePrompt, frames, fps, width, height, seed, pipeline, priority
        case outputName, idempotencyKey, labels, timeLimitSeconds, options
        case image, video, includeInput, prompts, transitionChunks, webhook, webhookEvents
        case tier, deadlineSeconds, maxGpuSeconds
    }

    /// Decodes leniently about absent optional fields (job files are written by hand),
    /// strictly about types.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decode(String.self, forKey: .prompt)
        negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt)
        frames = try c.decode(Int.self, forKey: .frames)
        fps = try c.decodeIfPresent(Int.self, forKey: .fps) ?? JobSpec.supportedFPS
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        pipeline = try c.decodeIfPresent(String.self, forKey: .pipeline)
        priority = try c.decodeIfPresent(Int.self, forKey: .priority) ?? 0
        outputName = try c.decodeIfPresent(String.self, forKey: .outputName)
        idempotencyKey = try c.decodeIfPresent(String.self, forKey: .idempotencyKey)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        timeLimitSeconds = try c.decodeIfPresent(Double.self, forKey: .timeLimitSeconds)
        options = try c.decodeIfPresent([String: String].self, forKey: .options) ?? [:]
        image = try c.decodeIfPresent(JobInput.self, forKey: .image)
        video = try c.decodeIfPresent(JobInput.self, forKey: .video)
        includeInput = try c.decodeIfPresent(Bool.self, forKey: .includeInput) ?? false
        prompts = try c.decodeIfPresent([ScheduledPrompt].self, forKey: .prompts)
        transitionChunks = try c.decodeIfPresent(Int.self, forKey: .transitionChunks) ?? 0
        webhook = try c.decodeIfPresent(String.self, forKey: .webhook)
        webhookEvents = try c.decodeIfPresent([WebhookEvent].self, forKey: .webhookEvents)
        tier = try c.decodeIfPresent(RouteTier.self, forKey: .tier)
        deadlineSeconds = try c.decodeIfPresent(Double.self, forKey: .deadlineSeconds)
        maxGpuSeconds = try c.decodeIfPresent(Double.self, forKey: .maxGpuSeconds)
    }

    /// Whether Spool is to choose the pipeline.
    public var isRouted: Bool { pipeline == Self.autoPipeline }

    /// The frame size, once resolved.
    public var size: FrameSize? {
        guard let width, let height else { return nil }
        return FrameSize(width: width, height: height)
    }

    /// Video duration in seconds (of the generated part, without an included clip).
    public var durationSeconds: Double { Double(frames) / Double(fps) }

    /// Who is told of this job's events: its own `webhook`; the host adds its own.
    public var webhookSubscriptions: [WebhookSubscription] {
        guard let webhook else { return [] }
        return [WebhookSubscription(url: webhook, events: webhookEvents ?? WebhookEvent.finalEvents)]
    }

    /// The inputs the job refers to.
    public var inputs: [JobInput] { [image, video].compactMap { $0 } }

    /// The prompt schedule on the pipeline's chunks: which chunk each prompt starts at. The
    /// frame at `at` seconds is frame `round(at · fps)`; its prompt starts with the chunk that
    /// brings that frame's new content. Nil without a schedule.
    public func chunkSchedule(_ chunking: PipelineDefinition.Chunking) -> [(chunk: Int, prompt: String)]? {
        guard let prompts else { return nil }
        return prompts.map { entry in
            let frame = Int((entry.at * Double(fps)).rounded())
            // Chunk 0 brings frames 0..<frames; each later one `stride` new frames after it.
            let chunk = frame < chunking.frames ? 0 : 1 + (frame - chunking.frames) / max(1, chunking.stride)
            return (chunk: chunk, prompt: entry.prompt)
        }
    }
}
