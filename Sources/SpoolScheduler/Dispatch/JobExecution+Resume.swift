import Foundation
import Logging
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolSupport

extension JobExecution {
    /// Where an attempt starts: from its job's checkpoint, or from frame 0 (and why, when the
    /// job had a checkpoint it could not use).
    struct Start {
        /// The kept video the encoder goes on from.
        var encoder: StreamingEncoder.Resume?
        /// What the worker goes on from.
        var worker: WorkerResume?
        /// What the attempt records about it; nil when the job had no checkpoint.
        var record: AttemptResume?
        /// The job's progress at the start.
        var chunksDone = 0
        var framesDone = 0
    }

    /// Whether this attempt keeps checkpoints: its pipeline makes them, its encoder can keep
    /// the video segment by segment, and the video is the generated frames alone (a clip the
    /// job includes before them would shift every segment off its chunk) without sound (a kept
    /// video holds no sound yet).
    func keepsCheckpoints(_ plan: Plan, leadingFrames: (path: String, count: Int)?) -> Bool {
        plan.pipeline.checkpoints && leadingFrames == nil && context.encoders.keepsSegments && plan.pipeline.audio == nil
    }

    /// The start of an attempt of a job with a checkpoint. Every file the checkpoint needs is
    /// checked and copied into the attempt's own folder first, and the kept video is remuxed
    /// once as a trial, so that an unusable checkpoint (a file missing or unreadable, a folder
    /// this host does not see, a video encoded with other settings) costs a restart from frame
    /// 0 with its reason, never a wrong video and never a failed job.
    func startingPoint(_ plan: Plan, leadingFrames: (path: String, count: Int)?) async -> Start {
        guard let checkpoint = job.checkpoint else { return Start() }
        do {
            return try await resumption(from: checkpoint, plan, leadingFrames: leadingFrames)
        } catch {
            logger.warning("the checkpoint cannot be used; starting from frame 0", metadata: ["reason": "\(error)"])
            // A trial's leftovers go; the worker's folder is made afresh.
            try? FileManager.default.removeItem(atPath: plan.workDir)
            try? FileManager.default.removeItem(atPath: plan.posterPartialPath)
            return Start(record: .restarted(because: "the checkpoint after chunk \(checkpoint.chunk) cannot be used: \(error)"))
        }
    }

    private func resumption(from checkpoint: JobCheckpoint, _ plan: Plan, leadingFrames: (path: String, count: Int)?) async throws -> Start {
        guard plan.pipeline.checkpoints else {
            throw CheckpointError("pipeline \(plan.pipeline.name) no longer makes checkpoints")
        }
        guard leadingFrames == nil else {
            throw CheckpointError("the job includes its input clip in the video, and a kept video does not hold it")
        }
        guard context.encoders.keepsSegments else {
            throw CheckpointError("this host's encoder cannot go on from a kept video")
        }
        guard plan.pipeline.audio == nil else {
            throw CheckpointError("pipeline \(plan.pipeline.name) makes sound, and a kept video holds none")
        }
        guard let files = CheckpointFiles(of: checkpoint) else {
            throw CheckpointError("its state file \(checkpoint.stateFile) is not named as Spool names them")
        }
        let stride = plan.pipeline.chunking.stride
        let frame = checkpoint.frame
        guard frame > 0, frame % stride == 0, frame < job.spec.frames else {
            throw CheckpointError("its frame \(frame) is not a chunk boundary inside the job's \(job.spec.frames) frames")
        }
        let overlap = plan.pipeline.chunking.overlap
        let size = plan.size
        let fps = job.spec.fps
        let workDir = plan.workDir
        let prefix = EncodedPrefix(folder: files.segments, segments: frame / stride, frames: frame)
        let encoders = context.encoders
        let trial = plan.jobFolder + "/resume-trial.mp4"
        let posterPartial = plan.posterPartialPath
        let posterInPlace = try await onOwnThread("spool-resume") { () throws -> Bool in
            let manager = FileManager.default
            try manager.createDirectory(atPath: workDir, withIntermediateDirectories: true)
            guard let state = manager.contents(atPath: checkpoint.stateFile) else {
                throw CheckpointError("its state file \(checkpoint.stateFile) is missing or unreadable on this host")
            }
            try state.write(to: URL(fileURLWithPath: workDir + "/" + Self.resumeStateName))
            if overlap > 0 {
                let path = files.tail(afterChunk: checkpoint.chunk)
                guard let tail = manager.contents(atPath: path), tail.count == overlap * size.rgb24FrameBytes else {
                    throw CheckpointError("its overlap frames \(path) are missing or short")
                }
                try tail.write(to: URL(fileURLWithPath: workDir + "/" + Self.resumeTailName))
            }
            // The kept video, remuxed once where no one reads it: it must be whole, hold its
            // frames, and share this encoder's stream headers.
            do {
                _ = try encoders.makeEncoder(path: trial, size: size, fps: fps, live: nil, kept: nil, prefix: prefix)
                unlink(trial)
            } catch {
                unlink(trial)
                throw CheckpointError("its kept video cannot be continued: \(error)")
            }
            guard let poster = manager.contents(atPath: files.poster) else { return false }
            try poster.write(to: URL(fileURLWithPath: posterPartial))
            return true
        }
        let tail = ChunkDescriptor(
            index: checkpoint.chunk, firstFrame: frame, frames: overlap, width: size.width, height: size.height,
            file: Self.resumeTailName)
        return Start(
            encoder: StreamingEncoder.Resume(prefix: prefix, tail: tail, posterInPlace: posterInPlace),
            worker: WorkerResume(afterChunk: checkpoint.chunk, firstFrame: frame, stateFile: workDir + "/" + Self.resumeStateName),
            record: .resumed(fromFrame: frame), chunksDone: checkpoint.chunk + 1, framesDone: frame)
    }

    /// The names of a resumed attempt's copies of its checkpoint, in its worker's folder.
    static let resumeStateName = "resume-state"
    static let resumeTailName = "resume-tail.rgb"
}
