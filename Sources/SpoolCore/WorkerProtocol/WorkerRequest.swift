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
    public var options: [String: String]

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
