/// What a worker reads as JSON on its stdin: one job to generate. In protocol 1 it is the
/// whole of stdin; in protocol 2 it is one line among others (`type` is `job`).
///
/// Keys are snake_case on the wire; see `Pipelines/README.md`.
public struct WorkerRequest: Hashable, Sendable, Codable {
    /// The protocol of per-job workers.
    public static let protocolVersion = 1
    /// The protocol of resident workers: one process serves many jobs, one at a time.
    public static let residentProtocolVersion = 2

    public var `protocol`: Int
    /// `job` in protocol 2; absent in protocol 1.
    public var type: String?
    public var jobId: String
    public var attempt: Int
    public var prompt: String
    public var negativePrompt: String?
    /// Frames the job needs; the worker may write more, never fewer.
    public var frames: Int
    public var width: Int
    public var height: Int
    public var fps: Int
    public var seed: UInt64
    /// Frames in a full chunk, and how many each chunk shares with the one before.
    public var chunkFrames: Int
    public var overlap: Int
    /// Absolute path of the folder chunk files go in; also the worker's working directory.
    public var workDir: String
    /// The pipeline file's options with the job's over them.
    public var options: [String: String]
    /// Conditioning inputs, as raw RGB24 files of the job's size that Spool has prepared;
    /// absent when the job has none (see ``WorkerConditioning``).
    public var imageFile: String?
    public var videoFile: String?
    public var videoFrames: Int?
    /// A prompt schedule: which chunk each prompt starts at (the first at 0), and over how
    /// many chunks a change blends. Absent: `prompt` holds for the whole video.
    public var prompts: [WorkerPrompt]?
    public var transitionChunks: Int?
    /// Go on from a checkpoint instead of starting at frame 0; absent for a fresh start.
    public var resume: WorkerResume?
    /// The sound every chunk must carry (`sample_rate`, `channels`), for a pipeline that
    /// makes sound; absent otherwise.
    public var audio: AudioFormat?

    public init(
        jobId: String, attempt: Int, prompt: String, negativePrompt: String?, frames: Int, width: Int, height: Int,
        fps: Int, seed: UInt64, chunkFrames: Int, overlap: Int, workDir: String, options: [String: String]
    ) {
        self.protocol = Self.protocolVersion
        self.type = nil
        self.jobId = jobId
        self.attempt = attempt
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.frames = frames
        self.width = width
        self.height = height
        self.fps = fps
        self.seed = seed
        self.chunkFrames = chunkFrames
        self.overlap = overlap
        self.workDir = workDir
        self.options = options
    }

    /// The request with `conditioning`'s fields set.
    public func conditioned(by conditioning: WorkerConditioning?) -> WorkerRequest {
        guard let conditioning else { return self }
        var request = self
        request.imageFile = conditioning.imageFile
        request.videoFile = conditioning.videoFile
        request.videoFrames = conditioning.videoFrames
        request.prompts = conditioning.prompts
        request.transitionChunks = conditioning.prompts == nil ? nil : conditioning.transitionChunks
        return request
    }

    /// The request as a protocol 2 line: `"protocol": 2, "type": "job"`.
    public var resident: WorkerRequest {
        var request = self
        request.protocol = Self.residentProtocolVersion
        request.type = "job"
        return request
    }
}

/// What else a resident worker reads on stdin: stop the job it is running.
public struct WorkerCancel: Hashable, Sendable, Codable {
    public var type = "cancel"
    public var jobId: String

    public init(jobId: String) { self.jobId = jobId }
}

/// One entry of a prompt schedule, as a worker reads it: `prompt` from chunk `chunk` on.
public struct WorkerPrompt: Hashable, Sendable, Codable {
    public var chunk: Int
    public var prompt: String

    public init(chunk: Int, prompt: String) {
        self.chunk = chunk
        self.prompt = prompt
    }
}

/// What conditions a job beyond its text: a first frame (image-to-video), a clip to continue
/// (video-to-video), a prompt that changes over time. Files are raw RGB24 at the job's size,
/// already decoded, scaled and cropped by Spool: workers never decode media.
public struct WorkerConditioning: Hashable, Sendable {
    public var imageFile: String?
    public var videoFile: String?
    public var videoFrames: Int?
    public var prompts: [WorkerPrompt]?
    public var transitionChunks: Int

    public init(
        imageFile: String? = nil, videoFile: String? = nil, videoFrames: Int? = nil, prompts: [WorkerPrompt]? = nil,
        transitionChunks: Int = 0
    ) {
        self.imageFile = imageFile
        self.videoFile = videoFile
        self.videoFrames = videoFrames
        self.prompts = prompts
        self.transitionChunks = transitionChunks
    }
}
