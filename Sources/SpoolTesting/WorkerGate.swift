import Foundation

/// A gate the synthetic worker waits at (`--gate PATH@N`): chunks from index N on are not
/// written until the test opens it. How a test holds a job running, at a known point, for
/// exactly as long as it needs, on a machine of any speed.
public final class WorkerGate: Sendable {
    public let path: String
    private let folder: TemporaryDirectory

    public init() throws {
        folder = try TemporaryDirectory("gate")
        path = folder.file("open")
    }

    deinit { folder.remove() }

    /// The worker's arguments: wait before writing chunk `chunk` (and every later one).
    public func arguments(fromChunk chunk: Int = 0) -> [String] { ["--gate", "\(path)@\(chunk)"] }

    /// `SPOOL_SYNTHETIC_GATE`'s value, for workers started by a daemon process.
    public func environmentValue(fromChunk chunk: Int = 0) -> String { "\(path)@\(chunk)" }

    /// Lets every waiting worker go on, and every later one pass.
    public func open() {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
    }

    /// Makes workers wait again at their next gated chunk.
    public func close() {
        try? FileManager.default.removeItem(atPath: path)
    }

    public var isOpen: Bool { FileManager.default.fileExists(atPath: path) }
}
