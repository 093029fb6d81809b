import Foundation
import Logging
import SpoolCore
import SpoolGenerators
import SpoolMedia

/// One attempt at one job on one slot: start the worker, stream its chunks into the
/// encoder, release the slot when generation ends, finish the MP4, and record each
/// stage in the store before acting on it.
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
    let releaseSlot: @Sendable (GPUSlot) async -> Void
    let finished: @Sendable (JobID) async -> Void

    private var store: any JobStore { context.store }
    private var attempt: Int { job.attempts }
    private var logger: Logger {
        var logger = context.logger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "attempt"] = "\(job.attempts)"
        logger[metadataKey: "slot"] = "\(slot.name)"
        return logger
    }

    func run() async {
        let started = claimedAt
        let data = context.configuration.data
        let jobFolder = "\(data.work)/\(job.id)"
        let workDir = "\(jobFolder)/attempt-\(attempt)"
        defer { try? FileManager.default.removeItem(atPath: jobFolder) }
        logger.info("started", metadata: ["pipeline": "\(job.pipeline)", "frames": "\(job.spec.frames)"])

        guard let pipeline = context.pipelines[job.pipeline], let size = job.spec.size else {
            await releaseSlot(slot)
            await persist(.failed, JobUpdate(
                attempt: attempt, at: context.clock.now(),
                error: "pipeline \(job.pipeline) is not configured on host \(context.configuration.host)",
                endAttempt: .failed, attemptGPUSeconds: 0))
            await finished(job.id)
            return
        }

        let partialPath = "\(data.videos)/.\(job.id).mp4.part"
        let videoPath = "\(data.videos)/\(job.id).mp4"
        let posterPath = "\(data.videos)/\(job.id).png"
        let events = context.events
        let progressJob = job
        let control = control
        let holdLogger = logger
        let encoder = StreamingEncoder(
            .init(
                workDir: workDir, outputPath: partialPath, posterPath: posterPath, size: size, fps: job.spec.fps,
                targetFrames: job.spec.frames, overlap: pipeline.chunking.overlap, policy: pipeline.chunking.overlapPolicy,
                deleteConsumedChunks: true, priority: context.configuration.encodingPriority,
                backlogLimitBytes: context.configuration.rawBacklogBytes),
            encoders: context.encoders, limiter: context.limiter,
            onProgress: { frames in events.publish(JobEvent(job: progressJob, kind: .encoded(frames: frames))) },
            hold: { on in
                holdLogger.debug(on ? "worker paused: the encoder is behind by more than the raw backlog" : "worker resumed")
                control.hold(on)
            })

        // MARK: Generation, on the slot
        var failure: (any Error)?
        var progress = job.progress
        var progressWrites: Task<Void, Never>?
        do {
            try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
            let run = try context.generator.start(GenerationRequest(
                jobID: job.id, attempt: attempt, spec: job.spec, pipeline: pipeline,
                pipelineFolder: context.pipelines.folders[pipeline.name] ?? ".", workDir: workDir,
                cudaVisibleDevices: slot.cudaVisibleDevices,
                timeLimitSeconds: job.spec.timeLimitSeconds ?? context.configuration.defaultTimeLimitSeconds))
            context.statistics.recordStart(gap: slotFreedAt.map { (ContinuousClock.now - $0).seconds })
            if let group = run.processGroup {
                OrphanReaper.record(processGroup: group, jobFolder: jobFolder, attempt: attempt)
            }
            if !control.attach(run: run, encoder: encoder) {
                run.cancel(reason: "stopped before it started")
            }
            for try await event in run.events {
                guard case .chunk(let chunk) = event else { continue }
                do {
                    try encoder.add(chunk)
                } catch {
                    // The encoder rejected the stream (a gap, a conflict): no use going on.
                    run.cancel(reason: "the chunks cannot be assembled: \(error)")
                    throw error
                }
                progress.chunksDone += 1
                progress.framesDone = min(job.spec.frames, max(progress.framesDone, chunk.endFrame))
                let first = progress.chunksDone == 1 ? context.clock.now() : nil
                // Progress is written in order but not waited for: store latency must not
                // hold the worker's events back, nor count as slot time.
                let update = JobUpdate(attempt: attempt, at: context.clock.now(), progress: progress, firstChunkAt: first)
                let previous = progressWrites
                progressWrites = Task {
                    await previous?.value
                    if let updated = await persist(nil, update) {
                        events.publish(JobEvent(job: updated, kind: .chunk(index: chunk.index)))
                    }
                }
            }
        } catch {
            failure = error
        }
        let held = (ContinuousClock.now - started).seconds

        guard failure == nil else {
            encoder.cancel()
            await progressWrites?.value
            await endFailedAttempt(failure!, held: held, retryable: (failure as? GenerationError)?.isRetryable ?? true)
            await releaseSlot(slot)
            await finished(job.id)
            return
        }

        // MARK: Encoding tail, off the slot
        // The worker has exited and the GPU is free: hand the slot on first, then record
        // the transition with the slot time measured at this moment.
        let generatedAt = context.clock.now()
        await releaseSlot(slot)
        await progressWrites?.value
        let generated = await persist(.encoding, JobUpdate(
            attempt: attempt, at: generatedAt, progress: progress, generatedAt: generatedAt,
            endAttempt: .generated, attemptGPUSeconds: held))
        guard generated != nil else {
            encoder.cancel()
            await finished(job.id)
            return
        }
        logger.info("generated; slot released", metadata: ["gpuSeconds": "\(String(format: "%.3f", held))"])
        do {
            let outcome = try await encoder.finish()
            try moveIntoPlace(partialPath, videoPath)
            context.statistics.recordEncode(frames: outcome.video.frames, busySeconds: outcome.busySeconds)
            progress.framesDone = outcome.video.frames
            // One instant for both stamps: the MP4 closing is what finishes the job.
            let encodedAt = context.clock.now()
            await persist(.succeeded, JobUpdate(
                attempt: attempt, at: encodedAt, progress: progress, encodedAt: encodedAt,
                clearError: true, outputPath: videoPath, posterPath: outcome.posterPath))
            logger.info("succeeded", metadata: ["video": "\(videoPath)", "bytes": "\(outcome.video.bytes)"])
        } catch {
            try? FileManager.default.removeItem(atPath: partialPath)
            await endFailedAttempt(error, held: nil, retryable: true)
        }
        await finished(job.id)
    }

    /// Records how an attempt that did not generate a video ended: cancelled, interrupted
    /// by shutdown, retried after backoff, or failed for good.
    private func endFailedAttempt(_ error: any Error, held: Double?, retryable: Bool) async {
        let now = context.clock.now()
        let outcome: Attempt.Outcome
        switch control.reason {
        case .cancelled:
            // The cancellation is stored already; close the attempt's books.
            await persist(nil, JobUpdate(attempt: attempt, at: now, endAttempt: .cancelled, attemptGPUSeconds: held))
            logger.info("stopped: cancelled")
            return
        case .stale:
            logger.warning("stopped: another host took the job over")
            return
        case .interrupted:
            outcome = .interrupted
            await persist(.queued, JobUpdate(
                attempt: attempt, at: now, error: "attempt \(attempt) interrupted: host \(context.configuration.host) shut down",
                notBefore: now, endAttempt: outcome, attemptGPUSeconds: held))
            logger.info("requeued: the host is shutting down")
            return
        case nil:
            break
        }
        let message = "\(error)"
        if retryable && attempt < job.maxAttempts {
            let delay = context.configuration.retry.delay(afterAttempt: attempt)
            await persist(.queued, JobUpdate(
                attempt: attempt, at: now,
                error: "attempt \(attempt) of \(job.maxAttempts) failed: \(message); retrying in \(Self.format(delay))",
                notBefore: now.addingTimeInterval(delay), endAttempt: held == nil ? nil : .failed, attemptGPUSeconds: held))
            logger.warning("attempt failed; will retry", metadata: ["error": "\(message)", "retryIn": "\(delay)"])
        } else {
            let final = retryable ? "attempt \(attempt) of \(job.maxAttempts) failed: \(message)" : message
            await persist(.failed, JobUpdate(
                attempt: attempt, at: now, error: final, endAttempt: held == nil ? nil : .failed, attemptGPUSeconds: held))
            logger.error("failed", metadata: ["error": "\(message)"])
        }
    }

    /// Writes a change to the store and announces a state change. A store failure is
    /// logged, never thrown: the daemon keeps running. A failure that may pass (the
    /// database restarting, a dropped connection) is retried for about 6 s first, since a
    /// live host keeps renewing its jobs' leases and no other host would take this one over.
    @discardableResult
    private func persist(_ state: JobState?, _ update: JobUpdate) async -> Job? {
        var delay = 0.2
        while true {
            do {
                let job = try await store.update(self.job.id, to: state, update)
                if let state { context.events.publish(JobEvent(job: job, kind: .state(state))) }
                return job
            } catch let error as SpoolError {
                switch error {
                case .staleAttempt, .illegalTransition:
                    // Cancelled meanwhile, or taken over by another host: stop quietly.
                    if control.reason == nil { control.stop(.stale, message: "\(error)") }
                    logger.info("the store moved on without this attempt", metadata: ["reason": "\(error)"])
                default:
                    logger.error("store update failed", metadata: ["error": "\(error)"])
                }
                return nil
            } catch {
                guard delay < 4 else {
                    logger.error("store update failed", metadata: ["error": "\(error)"])
                    return nil
                }
                logger.warning("store update failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                try? await Task.sleep(for: .seconds(delay))
                delay *= 2
            }
        }
    }

    private func moveIntoPlace(_ from: String, _ to: String) throws {
        if rename(from, to) != 0 {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: to])
        }
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}
