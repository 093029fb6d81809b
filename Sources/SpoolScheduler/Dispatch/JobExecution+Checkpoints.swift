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
        try await onOwnThread("spool-checkpoint") { try Self.copyDurably(source, to: path, folder: folder) }
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

    static func copyDurably(_ source: String, to path: String, folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = folder + "/." + (path as NSString).lastPathComponent + ".tmp"
        let input = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else { throw CheckpointError("cannot read the worker's state file \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw CheckpointError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var failure: String?
        while failure == nil {
            let n = read(input, &buffer, buffer.count)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                failure = "reading \(source)"
                break
            }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
                if w < 0 {
                    if errno == EINTR { continue }
                    failure = "writing \(temporary)"
                    break
                }
                written += w
            }
        }
        if failure == nil, fsync(output) != 0 { failure = "syncing \(temporary)" }
        let why = failure.map { "\($0): \(String(cString: strerror(errno)))" }
        close(output)
        if let why {
            unlink(temporary)
            throw CheckpointError("cannot keep a checkpoint: \(why)")
        }
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw CheckpointError("cannot keep a checkpoint: renaming to \(path): \(message)")
        }
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}

struct CheckpointError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
