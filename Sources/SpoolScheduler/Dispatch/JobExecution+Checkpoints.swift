#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpoolCore
import SpoolGenerators
import SpoolSupport

extension JobExecution {
    /// The frames final once chunk `end` (one past its last frame) is in: all of it, but for
    /// the frames the next chunk cross-fades over when the pipeline blends its overlaps.
    func finalFrames(afterChunkEndingAt end: Int, _ plan: Plan) -> Int {
        let chunking = plan.pipeline.chunking
        let blended = chunking.overlapPolicy == .blend ? chunking.overlap : 0
        return max(0, min(job.spec.frames, end - blended))
    }

    /// Keeps a worker's checkpoint: its state file copied into the job's checkpoint folder
    /// (`--checkpoints`, seen by every host of a shared queue) under a temporary name, made
    /// durable, renamed into place and the folder synced, before the store is told. The two
    /// latest are kept: the store may still name the one before the newest while its write is
    /// on its way.
    func keep(_ checkpoint: WorkerCheckpoint, _ plan: Plan, frame: Int, kept: inout [String]) async throws -> JobCheckpoint {
        let source = plan.workDir + "/" + checkpoint.stateFile
        let folder = context.configuration.data.checkpoints(job.id)
        let path = folder + String(format: "/state-a%03d-c%05d", attempt, checkpoint.afterChunk)
        try await onOwnThread("spool-checkpoint") { try Self.copyDurably(source, to: path) }
        kept.append(path)
        while kept.count > 2 { try? FileManager.default.removeItem(atPath: kept.removeFirst()) }
        return JobCheckpoint(chunk: checkpoint.afterChunk, frame: frame, stateFile: path)
    }

    /// Removes the job's checkpoints once it has ended (succeeded, failed for good, cancelled):
    /// a job that goes back to the queue keeps them for its next attempt.
    func removeCheckpointsIfEnded() async {
        let folder = context.configuration.data.checkpoints(job.id)
        guard FileManager.default.fileExists(atPath: folder) else { return }
        guard let stored = try? await context.store.job(job.id), stored.state.isFinal else { return }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Reads the worker's state file (never through a link: it was checked as the worker's
    /// own) and writes it durably at `path`.
    static func copyDurably(_ source: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let input = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else { throw CheckpointError("cannot read the worker's state file \(source): \(String(cString: strerror(errno)))") }
        let state = try FileHandle(fileDescriptor: input, closeOnDealloc: true).readToEnd() ?? Data()
        do {
            try writeDurably(state, to: path)
        } catch {
            throw CheckpointError("cannot keep a checkpoint: \(error)")
        }
    }
}

struct CheckpointError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes `data` to `path` so that it is whole or absent after a crash of the machine: under
/// a temporary name beside it, synced, renamed into place, and the folder synced so the
/// rename is too. What a checkpoint needs before anything may rely on it.
func writeDurably(_ data: Data, to path: String) throws {
    let folder = (path as NSString).deletingLastPathComponent
    let temporary = folder + "/." + (path as NSString).lastPathComponent + ".tmp"
    func failure(_ doing: String) -> DurableWriteError {
        DurableWriteError(description: "\(doing): \(String(cString: strerror(errno)))")
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw failure("cannot create \(temporary)") }
    var written = 0
    while written < data.count {
        let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, data.count - written) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
            let error = failure("cannot write \(temporary)")
            close(fd)
            unlink(temporary)
            throw error
        }
        written += n
    }
    guard fsync(fd) == 0 else {
        let error = failure("cannot sync \(temporary)")
        close(fd)
        unlink(temporary)
        throw error
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
        let error = failure("cannot rename \(temporary) to \(path)")
        unlink(temporary)
        throw error
    }
    let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if directory >= 0 {
        fsync(directory)
        close(directory)
    }
}

/// Why ``writeDurably(_:to:)`` failed, naming the file and the system's reason.
struct DurableWriteError: Error, CustomStringConvertible {
    var description: String
}
