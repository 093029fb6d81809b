/// A model pipeline: how to start its worker and the shape of what it writes.
///
/// Loaded from one JSON file per pipeline in `Pipelines/` (see `Pipelines/README.md`).
public struct PipelineDefinition: Hashable, Sendable, Codable {
    /// How a pipeline's chunks are laid out on the frame timeline.
    public struct Chunking: Hashable, Sendable, Codable {
        /// Frames in a full chunk.
        public var frames: Int
        /// Frames a chunk shares with the one before it.
        public var overlap: Int
        public var overlapPolicy: OverlapPolicy

        public init(frames: Int, overlap: Int = 0, overlapPolicy: OverlapPolicy = .drop) {
            self.frames = frames
            self.overlap = overlap
            self.overlapPolicy = overlapPolicy
        }

        /// New frames each chunk after the first adds.
        public var stride: Int { frames - overlap }

        /// Chunks needed to cover `count` frames.
        public func chunkCount(forFrames count: Int) -> Int {
            guard count > frames else { return 1 }
            return 1 + (count - frames + stride - 1) / stride
        }
    }

    /// Frame sizes a pipeline accepts.
    public struct Sizes: Hashable, Sendable, Codable {
        public var `default`: FrameSize
        /// nil: any even size within Spool's limits.
        public var allowed: [FrameSize]?
        /// Both sides a multiple of this (a model's VAE stride times its patch: 16 or 32 for
        /// Wan, 32 for LTX); nil: any even side.
        public var multipleOf: Int?

        public init(default: FrameSize, allowed: [FrameSize]? = nil, multipleOf: Int? = nil) {
            self.default = `default`
            self.allowed = allowed
            self.multipleOf = multipleOf
        }

        /// Why `width` or `height` is off the model's grid, naming the field; nil when on it.
        public func gridProblem(width: Int, height: Int, pipeline: String) -> (field: String, reason: String)? {
            guard let step = multipleOf else { return nil }
            for (field, value) in [("width", width), ("height", height)] where value % step != 0 {
                let below = value / step * step, above = below + step
                return (field, "is \(value); pipeline \(pipeline) makes sides that are multiples of \(step) (\(below > 0 ? "\(below) or " : "")\(above))")
            }
            return nil
        }
    }

    /// How long a worker may stay silent before it is killed.
    public struct Timeouts: Hashable, Sendable, Codable {
        /// From start to its first event (model loading).
        public var startupSeconds: Double
        /// Between two events once it has started.
        public var stallSeconds: Double
        /// For a resident worker to answer a cancel (it keeps its model), or to exit once its
        /// stdin is closed, before it is killed.
        public var cancelSeconds: Double

        public init(startupSeconds: Double = 600, stallSeconds: Double = 300, cancelSeconds: Double = 10) {
            self.startupSeconds = startupSeconds
            self.stallSeconds = stallSeconds
            self.cancelSeconds = cancelSeconds
        }

        enum CodingKeys: String, CodingKey { case startupSeconds, stallSeconds, cancelSeconds }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            startupSeconds = try c.decodeIfPresent(Double.self, forKey: .startupSeconds) ?? 600
            stallSeconds = try c.decodeIfPresent(Double.self, forKey: .stallSeconds) ?? 300
            cancelSeconds = try c.decodeIfPresent(Double.self, forKey: .cancelSeconds) ?? 10
        }
    }

    /// The conditioning a pipeline's worker takes besides its prompt.
    public struct Inputs: Hashable, Sendable, Codable {
        /// A first frame (image-to-video), as `image_file`.
        public var image: Bool
        /// A clip to continue (video-to-video), as `video_file`.
        public var video: Bool
        /// A prompt schedule, as `prompts` and `transition_chunks`.
        public var prompts: Bool
        /// The fewest frames a clip to continue may have.
        public var minVideoFrames: Int

        public init(image: Bool = false, video: Bool = false, prompts: Bool = false, minVideoFrames: Int = 1) {
            self.image = image
            self.video = video
            self.prompts = prompts
            self.minVideoFrames = minVideoFrames
        }

        enum CodingKeys: String, CodingKey { case image, video, prompts, minVideoFrames }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            image = try c.decodeIfPresent(Bool.self, forKey: .image) ?? false
            video = try c.decodeIfPresent(Bool.self, forKey: .video) ?? false
            prompts = try c.decodeIfPresent(Bool.self, forKey: .prompts) ?? false
            minVideoFrames = try c.decodeIfPresent(Int.self, forKey: .minVideoFrames) ?? 1
        }

        /// The inputs taken, in words: "an image, a video, a prompt schedule", or "none".
        public var summary: String {
            let taken = [image ? "an image" : nil, video ? "a video" : nil, prompts ? "a prompt schedule" : nil].compactMap { $0 }
            return taken.isEmpty ? "none" : taken.joined(separator: ", ")
        }
    }

    /// What a routed job may expect of a pipeline before Spool has measured it (see
    /// ``RouteTable/minHistory``): the figures its file states.
    public struct Prior: Hashable, Sendable, Codable {
        /// Slot time per second of video made.
        public var gpuSecondsPerVideoSecond: Double
        /// A cold start's model load.
        public var loadSeconds: Double
        /// A job's wait in the queue before it starts.
        public var queueSeconds: Double

        public init(gpuSecondsPerVideoSecond: Double, loadSeconds: Double = 0, queueSeconds: Double = 0) {
            self.gpuSecondsPerVideoSecond = gpuSecondsPerVideoSecond
            self.loadSeconds = loadSeconds
            self.queueSeconds = queueSeconds
        }

        enum CodingKeys: String, CodingKey { case gpuSecondsPerVideoSecond, loadSeconds, queueSeconds }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            gpuSecondsPerVideoSecond = try c.decode(Double.self, forKey: .gpuSecondsPerVideoSecond)
            loadSeconds = try c.decodeIfPresent(Double.self, forKey: .loadSeconds) ?? 0
            queueSeconds = try c.decodeIfPresent(Double.self, forKey: .queueSeconds) ?? 0
        }
    }

    public var name: String
    public var description: String?
    /// argv of the worker. `{bin}` expands to the folder of Spool's executables and
    /// `{pipelines}` to the folder this file was loaded from.
    public var command: [String]
    /// Extra environment for the worker.
    public var environment: [String: String]
    public var chunking: Chunking
    public var sizes: Sizes
    public var maxFrames: Int
    /// A CUDA pipeline is only ever placed on a real GPU slot.
    public var requiresCUDA: Bool
    public var timeouts: Timeouts
    /// Options passed through to the worker as `options` in its request.
    public var options: [String: String]
    /// The option names a job may set for itself (its `options`, over ``options``).
    public var jobOptions: [String]
    /// The conditioning inputs jobs may give it.
    public var inputs: Inputs
    /// Worker protocol 2: the worker is started once per slot, loads its model, and serves
    /// jobs one after another until Spool stops it.
    public var resident: Bool
    /// A resident worker is stopped (and started afresh for the next job) after this many
    /// jobs; nil: never.
    public var maxJobsPerWorker: Int?
    /// Its workers announce `checkpoint`s after chunks and go on from one given as `resume`.
    public var checkpoints: Bool
    /// Its cost and waits until Spool has measured them; nil: a routed job with a deadline
    /// or a budget passes it over until it has history.
    public var prior: Prior?
    /// The sound its workers make with every chunk; nil: the pipeline makes none, and its
    /// videos have no audio track.
    public var audio: AudioFormat?

    public init(
        name: String, description: String? = nil, command: [String], environment: [String: String] = [:],
        chunking: Chunking, sizes: Sizes, maxFrames: Int = JobSpec.maxFrames, requiresCUDA: Bool = false,
        timeouts: Timeouts = .init(), options: [String: String] = [:], jobOptions: [String] = [], inputs: Inputs = .init(),
        resident: Bool = false, maxJobsPerWorker: Int? = nil, checkpoints: Bool = false, prior: Prior? = nil,
        audio: AudioFormat? = nil
    ) {
        self.prior = prior
        self.audio = audio
        self.name = name
        self.description = description
        self.command = command
        self.environment = environment
        self.chunking = chunking
        self.sizes = sizes
        self.maxFrames = maxFrames
        self.requiresCUDA = requiresCUDA
        self.timeouts = timeouts
        self.options = options
        self.jobOptions = jobOptions
        self.inputs = inputs
        self.resident = resident
        self.maxJobsPerWorker = maxJobsPerWorker
        self.checkpoints = checkpoints
    }

    enum CodingKeys: String, CodingKey {
        case name, description, command, environment, chunking, sizes, maxFrames, requiresCUDA, timeouts, options
        case jobOptions, inputs, resident, maxJobsPerWorker, checkpoints, prior, audio
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        command = try c.decode([String].self, forKey: .command)
        environment = try c.decodeIfPresent([String: String].self, forKey: .environment) ?? [:]
        chunking = try c.decode(Chunking.self, forKey: .chunking)
        sizes = try c.decode(Sizes.self, forKey: .sizes)
        maxFrames = try c.decodeIfPresent(Int.self, forKey: .maxFrames) ?? JobSpec.maxFrames
        requiresCUDA = try c.decodeIfPresent(Bool.self, forKey: .requiresCUDA) ?? false
        timeouts = try c.decodeIfPresent(Timeouts.self, forKey: .timeouts) ?? .init()
        options = try c.decodeIfPresent([String: String].self, forKey: .options) ?? [:]
        jobOptions = try c.decodeIfPresent([String].self, forKey: .jobOptions) ?? []
        inputs = try c.decodeIfPresent(Inputs.self, forKey: .inputs) ?? .init()
        resident = try c.decodeIfPresent(Bool.self, forKey: .resident) ?? false
        maxJobsPerWorker = try c.decodeIfPresent(Int.self, forKey: .maxJobsPerWorker)
        checkpoints = try c.decodeIfPresent(Bool.self, forKey: .checkpoints) ?? false
        prior = try c.decodeIfPresent(Prior.self, forKey: .prior)
        audio = try c.decodeIfPresent(AudioFormat.self, forKey: .audio)
    }

    /// Problems that make this definition unusable; empty when it is sound.
    public func problems() -> [String] {
        var problems: [String] = []
        if name.isEmpty || JobSpec.outputNameProblem(name) != nil {
            problems.append("name \"\(name)\" must be letters, digits, \"-\", \"_\" or \".\"")
        }
        if command.isEmpty || command[0].isEmpty { problems.append("command must name an executable") }
        if chunking.frames < 1 { problems.append("chunking.frames must be at least 1") }
        if chunking.overlap < 0 || chunking.overlap >= chunking.frames {
            problems.append("chunking.overlap must be 0…\(max(0, chunking.frames - 1))")
        }
        if !(1...JobSpec.maxFrames).contains(maxFrames) { problems.append("maxFrames must be 1…\(JobSpec.maxFrames)") }
        if timeouts.startupSeconds <= 0 || timeouts.stallSeconds <= 0 || timeouts.cancelSeconds <= 0 {
            problems.append("timeouts must be positive")
        }
        for option in jobOptions where option.isEmpty || option.unicodeScalars.count > 64 {
            problems.append("jobOptions entries must be 1…64 characters, not \"\(option)\"")
        }
        if let prior, !(prior.gpuSecondsPerVideoSecond > 0 && prior.loadSeconds >= 0 && prior.queueSeconds >= 0) {
            problems.append("prior.gpuSecondsPerVideoSecond must be positive, its loadSeconds and queueSeconds not negative")
        }
        if inputs.minVideoFrames < 1 { problems.append("inputs.minVideoFrames must be at least 1") }
        if let audio { problems += audio.problems }
        if let limit = maxJobsPerWorker, limit < 1 { problems.append("maxJobsPerWorker must be at least 1") }
        if maxJobsPerWorker != nil && !resident { problems.append("maxJobsPerWorker applies only to a resident pipeline") }
        let size = sizes.default
        if size.width % 2 != 0 || size.height % 2 != 0 || size.width < 16 || size.height < 16 {
            problems.append("sizes.default \(size) must be even and at least 16x16")
        }
        if let allowed = sizes.allowed, !allowed.contains(size) {
            problems.append("sizes.default \(size) is not among sizes.allowed")
        }
        if let step = sizes.multipleOf {
            if step < 2 || step % 2 != 0 {
                problems.append("sizes.multipleOf must be an even number of at least 2")
            } else if sizes.gridProblem(width: size.width, height: size.height, pipeline: name) != nil {
                problems.append("sizes.default \(size) must have sides that are multiples of sizes.multipleOf (\(step))")
            }
        }
        return problems
    }
}
