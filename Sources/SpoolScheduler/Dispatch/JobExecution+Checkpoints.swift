#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolSupport
import Synchronization

/// A job's checkpoint files, named in one place. All live in the job's checkpoint folder
/// (`--checkpoints`, seen by every host of a shared queue), and every name carries the
/// attempt that wrote it, so an attempt never writes over what an earlier one kept and the
/// store still names:
///
/// - `state-aNNN-cNNNNN`: the worker's state after chunk c (opaque to Spool);
/// - `tail-aNNN-cNNNNN.rgb`: chunk c's raw frames past the kept video, which the next chunk
///   overlaps (only for pipelines whose chunks overlap);
/// - `segments-aNNN/`: the attempt's video so far, a fragmented-MP4 segment a chunk stride;
/// - `poster-aNNN.png`: the video's first frame, as the poster.
///
/// The store names the state file; the rest follows from its name.
struct CheckpointFiles: Hashable {
    let folder: String
    let attempt: Int

    var segments: String { folder + String(format: "/segments-a%03d", attempt) }
    var poster: String { folder + String(format: "/poster-a%03d.png", attempt) }
    func state(afterChunk chunk: Int) -> String { folder + String(format: "/state-a%03d-c%05d", attempt, chunk) }
    func tail(afterChunk chunk: Int) -> String { folder + String(format: "/tail-a%03d-c%05d.rgb", attempt, chunk) }

    /// The files of the attempt that kept `checkpoint`, read from its state file's name.
    init?(of checkpoint: JobCheckpoint) {
        let name = (checkpoint.stateFile as NSString).lastPathComponent
        let parts = name.split(separator: "-")
        guard parts.count == 3, parts[0] == "state", parts[1].hasPrefix("a"), parts[2].hasPrefix("c"),
              let attempt = Int(parts[1].dropFirst()), Int(parts[2].dropFirst()) == checkpoint.chunk
        else { return nil }
        self.init(folder: (checkpoint.stateFile as NSString).deletingLastPathComponent, attempt: attempt)
    }

    init(folder: String, attempt: Int) {
        self.folder = folder
        self.attempt = attempt
    }
}

/// Which of an attempt's checkpoints the store may name, as a plain value: a checkpoint is
/// committed once both its state file (and tail) and the video segments up to its frame are
/// durable, and not before; the two arrive in either order (the encoder may lag the worker).
/// Each commit makes the checkpoints before it obsolete, to be removed once the store names
/// the new one.
struct CheckpointLedger {
    enum Action: Equatable {
        case none
        case commit(JobCheckpoint, obsolete: [JobCheckpoint])
    }

    private(set) var committed: JobCheckpoint?
    /// Kept durably, waiting for their segments; in chunk order.
    private var waiting: [JobCheckpoint] = []
    private var durableFrames = 0

    /// A checkpoint's state (and tail) is durable.
    mutating func kept(_ checkpoint: JobCheckpoint) -> Action {
        waiting.append(checkpoint)
        return settle()
    }

    /// The video's segments hold `frames` frames, durably.
    mutating func segmentsDurable(frames: Int) -> Action {
        durableFrames = max(durableFrames, frames)
        return settle()
    }

    private mutating func settle() -> Action {
        guard let ready = waiting.last(where: { $0.frame <= durableFrames }) else { return .none }
        let obsolete = waiting.filter { $0.chunk < ready.chunk } + (committed.map { [$0] } ?? [])
        waiting.removeAll { $0.chunk <= ready.chunk }
        committed = ready
        return .commit(ready, obsolete: obsolete)
    }
}

/// Carries out an attempt's ``CheckpointLedger``: called from the attempt's task (a state
/// kept) and from the encoder's threads (a segment durable); each commit is queued to the
/// store in the ledger's order, under its lock.
final class CheckpointKeeper: Sendable {
    private let ledger = Mutex(CheckpointLedger())
    /// Where this attempt's checkpoint files go.
    let files: CheckpointFiles
    private let posterSource: String
    private let writer: ProgressWriter
    private let attempt: Int
    private let clock: any WallClock
    private let logger: Logger
    /// Called once the store names a newly committed checkpoint.
    private let onCommitted: @Sendable (JobCheckpoint) -> Void

    init(
        files: CheckpointFiles, posterSource: String, writer: ProgressWriter, attempt: Int, clock: any WallClock, logger: Logger,
        onCommitted: @escaping @Sendable (JobCheckpoint) -> Void = { _ in }
    ) {
        self.files = files
        self.posterSource = posterSource
        self.writer = writer
        self.attempt = attempt
        self.clock = clock
        self.logger = logger
        self.onCommitted = onCommitted
    }

    func kept(_ checkpoint: JobCheckpoint) {
        ledger.withLock { ledger in carry(ledger.kept(checkpoint)) }
    }

    func segmentsDurable(frames: Int) {
        ledger.withLock { ledger in carry(ledger.segmentsDurable(frames: frames)) }
    }

    var committed: JobCheckpoint? { ledger.withLock { $0.committed } }

    /// Under the ledger's lock, so commits reach the writer in order.
    private func carry(_ action: CheckpointLedger.Action) {
        guard case .commit(let checkpoint, let obsolete) = action else { return }
        // The poster (written at the first frame) goes with the first checkpoint: a resumed
        // attempt never encodes frame 0 again.
        if !FileManager.default.fileExists(atPath: files.poster), let poster = FileManager.default.contents(atPath: posterSource) {
            do {
                try writeDurably(poster, to: files.poster)
            } catch {
                logger.warning("could not keep the poster with the checkpoint", metadata: ["error": "\(error)"])
            }
        }
        let files = files
        let onCommitted = onCommitted
        writer.write(JobUpdate(attempt: attempt, at: clock.now(), checkpoint: checkpoint), announcing: nil) {
            // The store names the new checkpoint: the ones before it are of no more use.
            for old in obsolete {
                unlink(old.stateFile)
                unlink(files.tail(afterChunk: old.chunk))
            }
            onCommitted(checkpoint)
        }
    }
}

extension JobExecution {
    /// The frame an attempt goes on from after chunk `chunk`: where the next chunk starts
    /// (the chunk's end less the pipeline's overlap). The video is kept up to there; the
    /// overlap's raw frames are kept apart (the tail), since the next chunk decides them.
    func resumeFrame(after chunk: ChunkDescriptor, _ plan: Plan) -> Int {
        chunk.endFrame - plan.pipeline.chunking.overlap
    }

    /// Keeps a worker's checkpoint: its state file copied into the job's checkpoint folder
    /// under a temporary name, made durable, renamed into place and the folder synced. The
    /// store is told once the video's segments up to `frame` are durable too (``CheckpointKeeper``).
    func keep(_ checkpoint: WorkerCheckpoint, _ plan: Plan, frame: Int, files: CheckpointFiles) async throws -> JobCheckpoint {
        let source = plan.workDir + "/" + checkpoint.stateFile
        let path = files.state(afterChunk: checkpoint.afterChunk)
        try await onOwnThread("spool-checkpoint") { try Self.copyDurably(source, to: path) }
        return JobCheckpoint(chunk: checkpoint.afterChunk, frame: frame, stateFile: path)
    }

    /// Keeps chunk `chunk`'s raw frames past `frame` (its overlap with the next chunk),
    /// durably, before the encoder may consume the chunk's file.
    func keepTail(of chunk: ChunkDescriptor, from frame: Int, _ plan: Plan, files: CheckpointFiles) async throws {
        let frameBytes = plan.size.rgb24FrameBytes
        let source = plan.workDir + "/" + chunk.file
        let offset = (frame - chunk.firstFrame) * frameBytes
        let count = (chunk.endFrame - frame) * frameBytes
        let path = files.tail(afterChunk: chunk.index)
        try await onOwnThread("spool-checkpoint") {
            guard let handle = FileHandle(forReadingAtPath: source) else { throw CheckpointError("cannot read \(source)") }
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: count) ?? Data()
            guard data.count == count else { throw CheckpointError("\(source) ends before its last frame") }
            try FileManager.default.createDirectory(atPath: files.folder, withIntermediateDirectories: true)
            try writeDurably(data, to: path)
        }
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
