import Foundation
import SpoolCore

/// What an attempt does on its slot.
///
/// Spool always runs the pipeline's worker. The fleet simulator (`spool-bench fleet`) and the
/// fleet tests run hundreds of hosts of eight slots in one process, which no machine could do
/// with a worker process per slot: their attempts hold the slot until `generate` returns, with
/// no worker, no frames and no video. Everything else is the real attempt's: the claim, the
/// slot's accounting, the store writes in their order (generated, the confirmation before
/// publishing, succeeded), fencing, reconciling, and the rules of recording a stop.
public enum AttemptWork: Sendable {
    /// The pipeline's worker, chunks, the encoder: what Spool does.
    case pipelines
    /// Holds the slot until the closure returns. It is cancelled when the attempt is told to
    /// stop (cancelled, taken over, fenced, the host shutting down), and should return then.
    case simulated(@Sendable (Job) async -> Void)
}

extension JobExecution {
    /// A simulated attempt (``AttemptWork/simulated(_:)``), recorded as a real one is.
    func runSimulated(_ generate: @escaping @Sendable (Job) async -> Void) async {
        let job = job
        let work = Task { await generate(job) }
        if !control.attach(onStop: { work.cancel() }) { work.cancel() }
        await work.value
        let held = (ContinuousClock.now - claimedAt).seconds
        await slotAccess.release(nil)
        await recordSimulated(heldSeconds: held)
        await finished()
    }

    private func recordSimulated(heldSeconds held: Double) async {
        guard control.reason == nil else {
            await recordFailure(CancellationError(), heldSeconds: held, load: nil, retryable: true)
            return
        }
        let progress = JobProgress(
            framesDone: job.spec.frames, framesTotal: job.spec.frames, chunksDone: job.progress.chunksTotal ?? 1,
            chunksTotal: job.progress.chunksTotal ?? 1)
        let generatedAt = context.clock.now()
        guard await record(.encoding, JobUpdate(
            attempt: attempt, at: generatedAt, progress: progress, generatedAt: generatedAt, endAttempt: .generated,
            attemptGPUSeconds: held))
        else { return }
        guard await stillHoldsTheJob() else {
            if control.reason == .fenced { await recordFailure(CancellationError(), heldSeconds: nil, load: nil, retryable: true) }
            return
        }
        let encodedAt = context.clock.now()
        await record(.succeeded, JobUpdate(attempt: attempt, at: encodedAt, progress: progress, encodedAt: encodedAt, clearError: true))
    }
}
