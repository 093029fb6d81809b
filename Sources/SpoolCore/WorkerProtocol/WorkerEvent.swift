/// One line a worker prints on stdout, as JSON (worker protocols 1 and 2; see
/// `Pipelines/README.md`). In protocol 2 every event of a job also carries its `job_id`
/// (see ``WorkerMessage``).
public enum WorkerEvent: Hashable, Sendable, Codable {
    /// Optional first line: the worker's protocol version and name.
    case hello(protocol: Int, worker: String)
    /// The model is loaded: the worker takes jobs from now on. Protocol 2 workers must say
    /// it once, before anything else; protocol 1 workers may.
    case ready(WorkerReady)
    /// Denoising progress within a chunk.
    case progress(chunk: Int, step: Int, steps: Int)
    /// A chunk file is complete in the work directory.
    case chunk(ChunkDescriptor)
    /// After an announced chunk, the worker's state to go on from is in a file (pipelines with
    /// `"checkpoints": true`).
    case checkpoint(WorkerCheckpoint)
    /// Generation finished: every chunk has been announced.
    case done(frames: Int, chunks: Int)
    /// Protocol 2: the job was stopped on Spool's request; the worker takes the next.
    case cancelled
    /// Protocol 2: the job cannot be done (a bad input, the GPU out of memory); the worker
    /// stays ready for the next.
    case failed(message: String)

    enum CodingKeys: String, CodingKey {
        case event, `protocol`, worker, chunk, step, steps, frames, chunks, message
        case loadSeconds = "load_seconds", pid
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(String.self, forKey: .event)
        switch kind {
        case "hello":
            self = .hello(protocol: try c.decode(Int.self, forKey: .protocol), worker: try c.decode(String.self, forKey: .worker))
        case "progress":
            self = .progress(
                chunk: try c.decode(Int.self, forKey: .chunk), step: try c.decode(Int.self, forKey: .step),
                steps: try c.decode(Int.self, forKey: .steps))
        case "chunk":
            self = .chunk(try ChunkDescriptor(from: decoder))
        case "checkpoint":
            self = .checkpoint(try WorkerCheckpoint(from: decoder))
        case "done":
            self = .done(frames: try c.decode(Int.self, forKey: .frames), chunks: try c.decode(Int.self, forKey: .chunks))
        case "ready":
            self = .ready(WorkerReady(
                protocol: try c.decode(Int.self, forKey: .protocol), worker: try c.decodeIfPresent(String.self, forKey: .worker),
                loadSeconds: try c.decodeIfPresent(Double.self, forKey: .loadSeconds), pid: try c.decodeIfPresent(Int32.self, forKey: .pid)))
        case "cancelled":
            self = .cancelled
        case "failed":
            self = .failed(message: try c.decode(String.self, forKey: .message))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .event, in: c, debugDescription: "unknown event \"\(kind)\"")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .hello(let version, let worker):
            try c.encode("hello", forKey: .event)
            try c.encode(version, forKey: .protocol)
            try c.encode(worker, forKey: .worker)
        case .progress(let chunk, let step, let steps):
            try c.encode("progress", forKey: .event)
            try c.encode(chunk, forKey: .chunk)
            try c.encode(step, forKey: .step)
            try c.encode(steps, forKey: .steps)
        case .chunk(let descriptor):
            try c.encode("chunk", forKey: .event)
            try descriptor.encode(to: encoder)
        case .checkpoint(let checkpoint):
            try c.encode("checkpoint", forKey: .event)
            try checkpoint.encode(to: encoder)
        case .done(let frames, let chunks):
            try c.encode("done", forKey: .event)
            try c.encode(frames, forKey: .frames)
            try c.encode(chunks, forKey: .chunks)
        case .ready(let ready):
            try c.encode("ready", forKey: .event)
            try c.encode(ready.protocol, forKey: .protocol)
            try c.encodeIfPresent(ready.worker, forKey: .worker)
            try c.encodeIfPresent(ready.loadSeconds, forKey: .loadSeconds)
            try c.encodeIfPresent(ready.pid, forKey: .pid)
        case .cancelled:
            try c.encode("cancelled", forKey: .event)
        case .failed(let message):
            try c.encode("failed", forKey: .event)
            try c.encode(message, forKey: .message)
        }
    }
}

/// What a worker says once its model is loaded.
public struct WorkerReady: Hashable, Sendable {
    public var `protocol`: Int
    public var worker: String?
    /// How long loading took, by the worker's own clock.
    public var loadSeconds: Double?
    /// The worker's process id, so a test can tell one process serving many jobs.
    public var pid: Int32?

    public init(protocol: Int, worker: String?, loadSeconds: Double?, pid: Int32?) {
        self.protocol = `protocol`
        self.worker = worker
        self.loadSeconds = loadSeconds
        self.pid = pid
    }
}

/// One line of a worker's stdout: an event and, in protocol 2, the job it belongs to.
public struct WorkerMessage: Hashable, Sendable, Decodable {
    public var event: WorkerEvent
    public var jobID: String?

    public init(event: WorkerEvent, jobID: String?) {
        self.event = event
        self.jobID = jobID
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
    }

    public init(from decoder: any Decoder) throws {
        event = try WorkerEvent(from: decoder)
        jobID = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .jobID)
    }
}
