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

    public var prompt: String
    public var negativePrompt: String?
    /// Frames in the finished video, 1…1,440.
    public var frames: Int
    public var fps: Int
    public var width: Int?
    public var height: Int?
    /// Generation seed; a random one is chosen at submission when absent.
    public var seed: UInt64?
    /// Pipeline name, as in `Pipelines/<name>.json`; the host's default when absent.
    public var pipeline: String?
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
        options: [String: String] = [:]
    ) {
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
    }

    enum CodingKeys: String, CodingKey {
        case prompt, negativePrompt, frames, fps, width, height, seed, pipeline, priority
        case outputName, idempotencyKey, labels, timeLimitSeconds, options
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
    }

    /// The frame size, once resolved.
    public var size: FrameSize? {
        guard let width, let height else { return nil }
        return FrameSize(width: width, height: height)
    }

    /// Video duration in seconds.
    public var durationSeconds: Double { Double(frames) / Double(fps) }
}
