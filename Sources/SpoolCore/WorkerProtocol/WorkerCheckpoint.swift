#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A worker's `checkpoint` event (protocols 1 and 2, for a pipeline with `"checkpoints": true`):
/// after chunk `afterChunk`, everything the worker needs to go on from the chunk after it is in
/// `stateFile`, a plain file in the work directory. The file is the worker's own format; Spool
/// only keeps it and hands it back in a ``WorkerResume``.
public struct WorkerCheckpoint: Hashable, Sendable, Codable {
    public var afterChunk: Int
    /// File name inside the work directory.
    public var stateFile: String

    public init(afterChunk: Int, stateFile: String) {
        self.afterChunk = afterChunk
        self.stateFile = stateFile
    }

    enum CodingKeys: String, CodingKey {
        case afterChunk = "after_chunk", stateFile = "state_file"
    }

    /// Checks the state file as ``ChunkDescriptor/validatedPath(in:expectedSize:)`` checks a
    /// chunk's: a plain name, a regular file of the worker's own (one link, not a symbolic
    /// link), and returns its path. Every failure names the checkpoint and what was wrong.
    public func validatedPath(in workDir: String) throws(ChunkError) -> String {
        if stateFile.isEmpty || stateFile.contains("/") || stateFile.hasPrefix(".") {
            throw problem("names \"\(stateFile)\"; a state file must be a plain name inside the work directory")
        }
        let path = workDir + "/" + stateFile
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw problem(errno == ELOOP ? "names \(stateFile), a symbolic link; write the state file itself" : "names \(stateFile), which is missing")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw problem("names \(stateFile), which cannot be examined") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw problem("names \(stateFile), which is not a regular file") }
        guard info.st_nlink == 1 else {
            throw problem("names \(stateFile), which has \(info.st_nlink) links; a state file must be the worker's own, with one")
        }
        return path
    }

    private func problem(_ reason: String) -> ChunkError {
        ChunkError(chunk: afterChunk, "'s checkpoint \(reason)")
    }
}

/// What a request carries for an attempt that goes on from a checkpoint: the worker starts at
/// chunk `afterChunk + 1`, whose frames begin at `firstFrame` on the model's timeline, from the
/// state in `stateFile` (an absolute path; the worker's own format, as its checkpoint wrote it).
/// A worker that cannot use the state must refuse the job (protocol 1: exit non-zero with a
/// message; protocol 2: `failed`), never go on from anything else.
public struct WorkerResume: Hashable, Sendable, Codable {
    public var afterChunk: Int
    public var firstFrame: Int
    public var stateFile: String

    public init(afterChunk: Int, firstFrame: Int, stateFile: String) {
        self.afterChunk = afterChunk
        self.firstFrame = firstFrame
        self.stateFile = stateFile
    }
    // Keys in snake_case on the wire, as the whole request's (see `WorkerRequest+Wire`).
}
