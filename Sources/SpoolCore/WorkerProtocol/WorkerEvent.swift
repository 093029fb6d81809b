/// One line a worker prints on stdout, as JSON (protocol version 1).
public enum WorkerEvent: Hashable, Sendable, Codable {
    /// Optional first line: the worker's protocol version and name.
    case hello(protocol: Int, worker: String)
    /// Denoising progress within a chunk.
    case progress(chunk: Int, step: Int, steps: Int)
    /// A chunk file is complete in the work directory.
    case chunk(ChunkDescriptor)
    /// Generation finished: every chunk has been announced.
    case done(frames: Int, chunks: Int)

    enum CodingKeys: String, CodingKey {
        case event, `protocol`, worker, chunk, step, steps, frames, chunks
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
        case "done":
            self = .done(frames: try c.decode(Int.self, forKey: .frames), chunks: try c.decode(Int.self, forKey: .chunks))
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
        case .done(let frames, let chunks):
            try c.encode("done", forKey: .event)
            try c.encode(frames, forKey: .frames)
            try c.encode(chunks, forKey: .chunks)
        }
    }
}
