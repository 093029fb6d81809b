import Foundation
import Logging
import SpoolCore
import SpoolGenerators
import SpoolMedia
import Synchronization

/// One attempt at one job on one slot, in the stages its data flows through:
///
/// 1. ``plan()``: the pipeline, the size, where every file goes; ``prepareInputs(_:)``: the
///    job's image or clip decoded to raw frames of its size, its prompt schedule on chunks;
/// 2. ``generate(_:into:)``, on the slot: the worker writes chunks, each handed to the
///    streaming encoder as it lands; the slot is released the moment generation ends;
/// 3. ``finishEncoding(_:_:progress:)``, off the slot: the encode tail closes the MP4;
/// 4. recording: each stage's outcome is written to the store (through the
///    ``OutcomeLedger``, which never loses one) before the next is acted on.
struct JobExecution: Sendable {
    let job: Job
    let slot: GPUSlot
    /// When the dispatcher gave this job the slot: GPU-seconds count from here, not from
    /// when this task got a thread.
    let claimedAt: ContinuousClock.Instant
    /// When this slot was last released, to measure the gap to this worker's start.
    let slotFreedAt: ContinuousClock.Instant?
    let control: AttemptControl
    let context: ExecutionContext
    let slotAccess: SlotAccess
    /// Unregisters this attempt from the dispatcher: called once, when nothing of it runs.
    let finished: @Sendable () async -> Void

    var attempt: Int { job.attempts }
    var logger: Logger {
        var logger = context.logger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "attempt"] = "\(job.attempts)"
        logger[metadataKey: "slot"] = "\(slot.name)"
        return logger
    }

    /// Where an attempt's files go, and what shapes its frames.
    struct Plan {
        var pipeline: PipelineDefinition
        var size: FrameSize
        /// `<work>/<job>.<host>.a<N>`: the attempt's own, removed when it ends, whatever happened.
        var jobFolder: String
        /// `<job folder>/attempt-N`: the worker's chunks.
        var workDir: String
        /// The MP4 while it is written, and where it goes once closed. The partial files are
        /// this attempt's own (named by host and attempt): an attempt another host has taken
        /// over must never write, rename or remove the files of the one that replaced it.
        var partialPath: String
        var videoPath: String
        var posterPartialPath: String
        var posterPath: String
    }

    /// How generation ended, measured at the moment the slot was released. `heldSeconds`
    /// is the job's slot time: all of it for a per-job worker, the generation alone for a
    /// resident one, whose model load is `load` (accounted apart).
    enum Generation {
        case generated(progress: JobProgress, heldSeconds: Double, at: Date, load: ModelLoad?)
        case failed(any Error, heldSeconds: Double, load: ModelLoad?)
    }

    func run() async {
        if case .simulated(let generate) = context.work { return await runSimulated(generate) }
        logger.info("started", metadata: ["pipeline": "\(job.pipeline)", "frames": "\(job.spec.frames)"])
        guard let plan = plan() else {
            await slotAccess.release(nil)
            await record(.failed, JobUpdate(
                attempt: attempt, at: context.clock.now(),
                error: "pipeline \(job.pipeline) is not configured on host \(context.configuration.host)",
                endAttempt: .failed, attemptGPUSeconds: 0))
            await finished()
            return
        }
        defer { try? FileManager.default.removeItem(atPath: plan.jobFolder) }
        let inputs: PreparedInputs
        do {
            inputs = try await prepareInputs(plan)
        } catch {
            await slotAccess.release(nil)
            await recordFailure(error, heldSeconds: 0, load: nil, retryable: false)
            await finished()
            return
        }
        let start = await startingPoint(plan, leadingFrames: inputs.leadingFrames)
        let writer = ProgressWriter(job: job.id, writes: context.writes, control: control, logger: logger)
        if let record = start.record {
            writer.write(JobUpdate(attempt: attempt, at: context.clock.now(), resume: record), announcing: nil)
            if let frame = record.fromFrame { logger.info("resuming from the checkpoint", metadata: ["frame": "\(frame)"]) }
        }
        let keeper = keepsCheckpoints(plan, leadingFrames: inputs.leadingFrames)
            ? CheckpointKeeper(
                files: CheckpointFiles(folder: context.configuration.data.checkpoints(job.id), attempt: attempt),
                posterSource: plan.posterPartialPath, writer: writer, attempt: attempt, clock: context.clock, logger: logger,
                onCommitted: { [control] checkpoint in control.checkpointCommitted(checkpoint) })
            : nil
        if keeper != nil { control.keepingCheckpoints() }
        let encoder = makeEncoder(plan, leadingFrames: inputs.leadingFrames, keeper: keeper, resume: start.encoder)
        switch await generate(plan, conditioning: inputs.conditioning, start: start, writer: writer, keeper: keeper, into: encoder) {
        case .failed(let error, let held, let load):
            // What the attempt wrote is gone before anyone can read that it failed.
            await encoder.cancelAndWait()
            try? FileManager.default.removeItem(atPath: plan.jobFolder)
            await recordFailure(error, heldSeconds: held, load: load, retryable: (error as? GenerationError)?.isRetryable ?? true)
        case .generated(let progress, let held, let generatedAt, let load):
            if let frame = start.record?.fromFrame, progress.framesDone > frame {
                // What the kept frames would have cost this attempt, at its own pace.
                context.statistics.recordResume(savedSeconds: held * Double(frame) / Double(progress.framesDone - frame))
            }
            let recorded = await record(.encoding, JobUpdate(
                attempt: attempt, at: generatedAt, progress: progress, generatedAt: generatedAt,
                endAttempt: .generated, attemptGPUSeconds: held, load: load))
            guard recorded else {
                encoder.cancel()
                break
            }
            logger.info("generated; slot released", metadata: ["gpuSeconds": "\(String(format: "%.3f", held))"])
            await finishEncoding(plan, encoder, progress: progress)
        }
        await removeCheckpointsIfEnded()
        await finished()
    }

    // MARK: Stage 1: the plan

    func plan() -> Plan? {
        guard let pipeline = context.pipelines[job.pipeline], let size = job.spec.size else { return nil }
        let data = context.configuration.data
        let own = DataDirectory.attemptName(host: context.configuration.host, attempt: attempt)
        // The attempt's own folder: a job's attempt that is still stopping when the next one
        // starts on this host (or on another host sharing the work folder) removes only its own.
        let jobFolder = "\(data.work)/\(job.id).\(own)"
        return Plan(
            pipeline: pipeline, size: size, jobFolder: jobFolder, workDir: "\(jobFolder)/attempt-\(attempt)",
            partialPath: "\(data.videos)/.\(job.id).\(own).mp4.part", videoPath: "\(data.videos)/\(job.id).mp4",
            posterPartialPath: "\(data.videos)/.\(job.id).\(own).png.part", posterPath: "\(data.videos)/\(job.id).png")
    }

    /// The streaming encoder, its thread started; it writes nothing until the first frame.
    /// The job's live preview, about one segment a chunk; a retry starts it afresh.
    func livePreview(_ plan: Plan) -> LivePreview? {
        guard context.configuration.livePreview else { return nil }
        let folder = context.configuration.data.live(job.id, host: context.configuration.host, attempt: attempt)
        try? FileManager.default.removeItem(atPath: folder)
        return LivePreview(folder: folder, segmentFrames: plan.pipeline.chunking.stride)
    }

    func makeEncoder(
        _ plan: Plan, leadingFrames: (path: String, count: Int)? = nil, keeper: CheckpointKeeper? = nil,
        resume: StreamingEncoder.Resume? = nil
    ) -> StreamingEncoder {
        let kept = keeper.map { keeper in
            let folder = keeper.files.segments
            try? FileManager.default.removeItem(atPath: folder)
            return KeptSegments(folder: folder, segmentFrames: plan.pipeline.chunking.stride) { _, frames in
                keeper.segmentsDurable(frames: frames)
            }
        }
        let events = context.events
        let progressJob = job
        let control = control
        let holdLogger = logger
        return StreamingEncoder(
            .init(
                workDir: plan.workDir, outputPath: plan.partialPath, posterPath: plan.posterPartialPath, size: plan.size,
                fps: job.spec.fps, targetFrames: job.spec.frames, overlap: plan.pipeline.chunking.overlap,
                policy: plan.pipeline.chunking.overlapPolicy, deleteConsumedChunks: true,
                priority: context.configuration.encodingPriority, backlogLimitBytes: context.configuration.rawBacklogBytes,
                leadingFrames: leadingFrames, live: livePreview(plan), kept: kept, resume: resume, audio: plan.pipeline.audio),
            encoders: context.encoders, limiter: context.limiter,
            onProgress: { frames in events.publish(JobEvent(job: progressJob, kind: .encoded(frames: frames))) },
            hold: { on in
                holdLogger.debug(on ? "worker paused: the encoder is behind by more than the raw backlog" : "worker resumed")
                control.hold(on)
            })
    }

    // MARK: Stage 2: generation, on the slot

    /// Runs the worker and streams its chunks into `encoder`; releases the slot when the
    /// worker is done, whatever the outcome.
    func generate(
        _ plan: Plan, conditioning: WorkerConditioning? = nil, start: Start, writer: ProgressWriter, keeper: CheckpointKeeper?,
        into encoder: StreamingEncoder
    ) async -> Generation {
        var progress = job.progress
        progress.chunksDone = start.chunksDone
        progress.framesDone = start.framesDone
        var failure: (any Error)?
        var load: ModelLoad?
        // Slot time counts from the claim for a per-job worker (its start and its model's load
        // are the job's), from the job's request for a resident one.
        var generationStarted = claimedAt
        var perJobRun: WorkerRun?
        // Where each chunk's successor starts, for the frame a checkpoint after it resumes from;
        // the chunks whose overlap frames are kept.
        var resumeFrames: [Int: Int] = [:]
        var tailsKept: Set<Int> = []
        let files = CheckpointFiles(folder: context.configuration.data.checkpoints(job.id), attempt: attempt)
        let stride = plan.pipeline.chunking.stride
        let overlap = plan.pipeline.chunking.overlap
        do {
            try FileManager.default.createDirectory(atPath: plan.workDir, withIntermediateDirectories: true)
            let request = GenerationRequest(
                jobID: job.id, attempt: attempt, spec: job.spec, pipeline: plan.pipeline,
                pipelineFolder: context.pipelines.folders[plan.pipeline.name] ?? ".", workDir: plan.workDir,
                cudaVisibleDevices: slot.cudaVisibleDevices,
                timeLimitSeconds: job.spec.timeLimitSeconds ?? context.configuration.defaultTimeLimitSeconds,
                conditioning: conditioning, resume: start.worker)
            let loadStarted = ContinuousClock.now
            let run: WorkerRun
            do {
                (run, load) = try await slotAccess.startWorker(request)
            } catch {
                // A resident worker that could not load: the job waited for it, and held nothing.
                if plan.pipeline.resident {
                    load = ModelLoad(coldStart: true, seconds: (ContinuousClock.now - loadStarted).seconds)
                    generationStarted = ContinuousClock.now
                }
                throw error
            }
            if plan.pipeline.resident {
                generationStarted = ContinuousClock.now
                if let load, load.coldStart {
                    logger.info("the model loaded", metadata: ["loadSeconds": "\(String(format: "%.3f", load.seconds ?? 0))"])
                    writer.write(JobUpdate(attempt: attempt, at: context.clock.now(), load: load), announcing: nil)
                }
            } else {
                perJobRun = run
            }
            context.statistics.recordStart(gap: slotFreedAt.map { (ContinuousClock.now - $0).seconds })
            if !control.attach(run: run, encoder: encoder) {
                run.cancel(reason: "stopped before it started")
            }
            for try await event in run.events {
                if case .checkpoint(let checkpoint) = event {
                    // Checked by the worker's state: after an announced chunk, a file of its own.
                    // Only at a segment boundary inside the video can an attempt go on from it.
                    guard let keeper, let frame = resumeFrames[checkpoint.afterChunk], frame % stride == 0,
                          frame > 0, frame < job.spec.frames, overlap == 0 || tailsKept.contains(checkpoint.afterChunk)
                    else { continue }
                    do {
                        keeper.kept(try await keep(checkpoint, plan, frame: frame, files: files))
                    } catch {
                        // The job goes on; only a later interruption would cost more.
                        logger.warning("could not keep a checkpoint; the job goes on without it", metadata: ["error": "\(error)"])
                    }
                    continue
                }
                guard case .chunk(let chunk) = event else { continue }
                if keeper != nil {
                    let frame = resumeFrame(after: chunk, plan)
                    resumeFrames[chunk.index] = frame
                    // The overlap's raw frames, before the encoder may consume the chunk's file.
                    if overlap > 0, frame % stride == 0, frame > 0, frame < job.spec.frames {
                        do {
                            try await keepTail(of: chunk, from: frame, plan, files: files)
                            tailsKept.insert(chunk.index)
                        } catch {
                            logger.warning("could not keep a chunk's overlap frames", metadata: ["chunk": "\(chunk.index)", "error": "\(error)"])
                        }
                    }
                }
                do {
                    try encoder.add(chunk)
                } catch {
                    // The encoder rejected the stream (a gap, a conflict): no use going on.
                    run.cancel(reason: "the chunks cannot be assembled: \(error)")
                    throw error
                }
                progress.chunksDone += 1
                // The total is the pipeline's chunking's estimate; a model that runs one chunk
                // more (Helios, where its trim would fall short) raises it, never "4 of 3".
                if let total = progress.chunksTotal, progress.chunksDone > total { progress.chunksTotal = progress.chunksDone }
                progress.framesDone = min(job.spec.frames, max(progress.framesDone, chunk.endFrame))
                let now = context.clock.now()
                let first = progress.chunksDone == start.chunksDone + 1
                writer.write(JobUpdate(
                    attempt: attempt, at: now, progress: progress, firstChunkAt: first ? now : nil),
                    announcing: chunk.index)
            }
        } catch {
            failure = error
        }
        // One instant for the slot time and the stamp that ends generation.
        let held = (ContinuousClock.now - generationStarted).seconds
        let generatedAt = context.clock.now()
        // A per-job worker that said when its model was loaded: the load is part of its slot
        // time (the job held the slot for it), and shown apart.
        if let seconds = perJobRun?.loadSeconds { load = ModelLoad(coldStart: true, seconds: seconds) }
        await slotAccess.release(perJobRun?.loadSeconds)
        if failure != nil, let resumed = start.worker, progress.chunksDone == start.chunksDone, control.reason == nil {
            // The worker made nothing from the checkpoint: the next attempt starts from frame 0
            // rather than try the same state again.
            logger.warning("the worker went on from the checkpoint to nothing; it is forgotten", metadata: ["afterChunk": "\(resumed.afterChunk)"])
            writer.write(JobUpdate(attempt: attempt, at: context.clock.now(), clearCheckpoint: true), announcing: nil)
        }
        await writer.drain()
        if let failure { return .failed(failure, heldSeconds: held, load: load) }
        return .generated(progress: progress, heldSeconds: held, at: generatedAt, load: load)
    }

    // MARK: Stage 3: the encode tail, off the slot

    func finishEncoding(_ plan: Plan, _ encoder: StreamingEncoder, progress: JobProgress) async {
        var progress = progress
        do {
            let outcome = try await encoder.finish()
            guard await stillHoldsTheJob() else {
                // Another attempt has the job, or may have it by now: this one publishes
                // nothing and removes only its own files.
                try? FileManager.default.removeItem(atPath: plan.partialPath)
                try? FileManager.default.removeItem(atPath: plan.posterPartialPath)
                if control.reason == .fenced { await recordFailure(CancellationError(), heldSeconds: nil, load: nil, retryable: true) }
                return
            }
            try moveIntoPlace(plan.partialPath, plan.videoPath)
            var poster: String?
            if let written = outcome.posterPath {
                try moveIntoPlace(written, plan.posterPath)
                poster = plan.posterPath
            }
            context.statistics.recordEncode(frames: outcome.video.frames, busySeconds: outcome.busySeconds)
            // An included clip is in the video, not in the job's progress.
            progress.framesDone = min(outcome.video.frames, job.spec.frames)
            // One instant for both stamps: the MP4 closing is what finishes the job.
            let encodedAt = context.clock.now()
            await record(.succeeded, JobUpdate(
                attempt: attempt, at: encodedAt, progress: progress, encodedAt: encodedAt,
                clearError: true, outputPath: plan.videoPath, posterPath: poster, quality: outcome.quality))
            logger.info("succeeded", metadata: ["video": "\(plan.videoPath)", "bytes": "\(outcome.video.bytes)"])
            if let failure = outcome.video.livePreviewFailure {
                logger.warning("the live preview stopped early; the video is whole", metadata: ["error": "\(failure)"])
            }
        } catch {
            try? FileManager.default.removeItem(atPath: plan.partialPath)
            try? FileManager.default.removeItem(atPath: plan.posterPartialPath)
            try? FileManager.default.removeItem(atPath: plan.jobFolder)
            await recordFailure(error, heldSeconds: nil, load: nil, retryable: true)
        }
    }

    /// Whether this attempt may publish its video now. On a shared store, the store must say
    /// so in the step before the rename, in one statement: the job's lease is extended (to now
    /// plus `--lease-seconds`, so no host can take it over for that long) only if the job is
    /// still this attempt's, encoding here. While the store cannot be reached the video
    /// waits, until the store answers or the lease keeper fences the attempt. A store of one
    /// host (SQLite) has no one to lose the job to: it always may.
    func stillHoldsTheJob() async -> Bool {
        guard context.store.isShared else { return true }
        let host = context.configuration.host
        var told = false
        // A cancelled task (its host's service group cancelled past the shutdown's bound) gives
        // up: the job's lease runs out and another host makes it again. Its pause would not
        // pause (a cancelled task's sleep returns at once): the fleet test's killed hosts spun
        // here on both cores while their store refused every write, starving every other task.
        while control.reason == nil && !Task.isCancelled {
            do {
                let until = context.clock.now().addingTimeInterval(context.configuration.leaseSeconds)
                guard try await context.store.confirmPublishing(job.id, attempt: attempt, host: host, leaseUntil: until) else {
                    if control.reason == nil { control.stop(.stale, message: "the store took the job back before its video was published") }
                    logger.warning("the store took the job back before this attempt published its video; it publishes nothing")
                    return false
                }
                return true
            } catch {
                if !told {
                    logger.warning("the store cannot confirm that this attempt still holds the job; its video waits", metadata: ["error": "\(error)"])
                    told = true
                }
                try? await Task.sleep(for: .seconds(min(1, context.configuration.heartbeatSeconds)))
            }
        }
        return false
    }

    // MARK: Stage 4: recording

    /// Records how an attempt that did not make a video ended: cancelled, interrupted by
    /// shutdown, retried after backoff, or failed for good. `heldSeconds` is nil when the
    /// attempt's slot time was recorded already (a failure in the encode tail).
    func recordFailure(_ error: any Error, heldSeconds held: Double?, load: ModelLoad?, retryable: Bool) async {
        // A full disk: retrying would fail the same way and spend the GPU again.
        if !(error is NoSpace), DiskSpace.isNoSpace(error) {
            return await recordFailure(NoSpace(error: error, data: context.configuration.data), heldSeconds: held, load: load, retryable: false)
        }
        let now = context.clock.now()
        let ending: Attempt.Outcome? = held == nil ? nil : .failed
        switch control.reason {
        case .cancelled:
            // The cancellation is stored already; close the attempt's books.
            await record(nil, JobUpdate(attempt: attempt, at: now, endAttempt: .cancelled, attemptGPUSeconds: held, load: load))
            logger.info("stopped: cancelled")
        case .stale:
            logger.warning("stopped: another host took the job over")
        case .fenced:
            // Kept by the ledger until the store is back; refused there, harmlessly, if
            // another host took the job meanwhile.
            await record(.queued, JobUpdate(
                attempt: attempt, at: now,
                error: "attempt \(attempt) stopped: host \(context.configuration.host) could not renew its lease before it ran out",
                notBefore: now, endAttempt: .interrupted, attemptGPUSeconds: held, load: load, spareAttempt: held == nil))
            logger.warning("stopped: this host could not renew its lease before it ran out")
        case .interrupted:
            await record(.queued, JobUpdate(
                attempt: attempt, at: now, error: "attempt \(attempt) interrupted: host \(context.configuration.host) shut down",
                notBefore: now, endAttempt: .interrupted, attemptGPUSeconds: held, load: load, spareAttempt: held == nil))
            logger.info("requeued: the host is shutting down")
        case .preempted(let by):
            await record(.queued, JobUpdate(
                attempt: attempt, at: now,
                error: "attempt \(attempt) preempted by job \(by.job) (priority \(by.priority)), which had waited longer than --preempt-after",
                waitingReason: "preempted by job \(by.job) (priority \(by.priority)); goes on from its checkpoint when a slot is free",
                notBefore: now, endAttempt: .preempted, attemptGPUSeconds: held, load: load))
            logger.info("requeued: preempted", metadata: ["by": "\(by.job)", "priority": "\(by.priority)"])
        case nil where retryable && job.countedAttempts < job.maxAttempts:
            let delay = context.configuration.retry.delay(afterAttempt: job.countedAttempts)
            // A routed job retries on the next candidate that fitted, if there is one.
            let reroute = rerouted(after: "\(error)")
            let failedOn = reroute == nil ? "" : " on \(job.pipeline)"
            let moving = reroute.map { "; moving to \($0.routing.chosen), the next candidate of tier \($0.routing.tier.rawValue)" } ?? ""
            await record(.queued, JobUpdate(
                attempt: attempt, at: now,
                error: "\(attemptOfLimit) failed\(failedOn): \(error)\(moving); retrying in \(Self.format(delay))",
                notBefore: now.addingTimeInterval(delay), endAttempt: ending, attemptGPUSeconds: held, load: load,
                clearCheckpoint: reroute != nil, reroute: reroute))
            logger.warning("attempt failed; will retry", metadata: ["error": "\(error)", "retryIn": "\(delay)", "pipeline": "\(reroute?.routing.chosen ?? job.pipeline)"])
        case nil:
            let message = retryable ? "\(attemptOfLimit) failed: \(error)" : "\(error)"
            await record(.failed, JobUpdate(attempt: attempt, at: now, error: message, endAttempt: ending, attemptGPUSeconds: held, load: load))
            logger.error("failed", metadata: ["error": "\(error)"])
        }
    }

    /// A routed job's move to the next candidate of its tier that fitted at submission, after
    /// this attempt failed: the spec on that pipeline (its own default size unless the job gave
    /// one), the routing with the move. nil for a job that named its pipeline, or on the last.
    func rerouted(after error: String) -> JobReroute? {
        guard let routing = job.routing, let next = routing.next(after: job.pipeline),
              let definition = context.pipelines[next.pipeline]
        else { return nil }
        var spec = job.spec
        if !routing.sizeGiven {
            spec.width = nil
            spec.height = nil
        }
        spec = spec.resolved(pipeline: definition, seed: spec.seed ?? 0)
        return JobReroute(
            spec: spec, routing: routing.moved(to: definition.name, afterAttempt: attempt, error: error),
            chunksTotal: definition.chunking.chunkCount(forFrames: spec.frames))
    }

    /// "attempt 2 of 3", or "attempt 4 (2 of 3 counted)" after attempts Spool stopped itself.
    var attemptOfLimit: String {
        job.sparedAttempts == 0
            ? "attempt \(attempt) of \(job.maxAttempts)"
            : "attempt \(attempt) (\(job.countedAttempts) of \(job.maxAttempts) counted)"
    }

    /// Writes an outcome through the ledger. Returns whether the attempt still owns the job:
    /// false once the store has moved on without it (cancelled meanwhile, or taken over by
    /// another host), and the attempt then stops quietly. An outcome the store cannot take
    /// now is kept and written later: the attempt goes on as if written.
    @discardableResult
    func record(_ state: JobState?, _ update: JobUpdate) async -> Bool {
        var update = update
        if update.endAttempt != nil { update.attemptPipeline = job.pipeline }
        switch await context.outcomes.write(job.id, to: state, update) {
        case .written, .kept:
            return true
        case .refused(let error):
            if control.reason == nil { control.stop(.stale, message: "\(error)") }
            logger.info("the store moved on without this attempt", metadata: ["reason": "\(error)"])
            return false
        }
    }

    private func moveIntoPlace(_ from: String, _ to: String) throws {
        if rename(from, to) != 0 {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: to])
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}

/// An attempt that ran out of disk space, naming the folder that filled up.
struct NoSpace: Error, CustomStringConvertible {
    var error: any Error
    var data: DataDirectory

    var description: String {
        let text = "\(error)"
        let (name, path) = text.contains(data.videos) || text.contains(".mp4") ? ("videos", data.videos) : ("work", data.work)
        return "no space left on the \(name) folder \(path): \(text)"
    }
}

/// Writes an attempt's progress in order without holding its worker's events back: store
/// latency must not count as slot time. A progress write that fails is dropped (the next
/// one supersedes it), never retried; one the store refuses (the job was cancelled or taken
/// over meanwhile) stops the attempt.
final class ProgressWriter: Sendable {
    private let job: JobID
    private let writes: JobWrites
    private let control: AttemptControl
    private let logger: Logger
    private let last = Mutex<Task<Void, Never>?>(nil)

    init(job: JobID, writes: JobWrites, control: AttemptControl, logger: Logger) {
        self.job = job
        self.writes = writes
        self.control = control
        self.logger = logger
    }

    /// Queues `update`, after every write queued before it; announces chunk `announcing`;
    /// calls `then` once the store has taken it.
    func write(_ update: JobUpdate, announcing chunk: Int?, then: (@Sendable () -> Void)? = nil) {
        let (job, writes, control, logger) = (job, writes, control, logger)
        last.withLock { last in
            let previous = last
            last = Task {
                await previous?.value
                do {
                    try await writes.update(job, to: nil, update, announcing: chunk)
                    then?()
                } catch let error as SpoolError {
                    if control.reason == nil { control.stop(.stale, message: "\(error)") }
                    logger.info("the store moved on without this attempt", metadata: ["reason": "\(error)"])
                } catch {
                    logger.warning("a progress write failed; the next one supersedes it", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Waits for every queued write.
    func drain() async {
        await last.withLock { $0 }?.value
    }
}
