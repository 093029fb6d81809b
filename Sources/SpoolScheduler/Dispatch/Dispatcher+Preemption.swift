import Foundation
import Logging
import SpoolCore

/// Whom a waiting job preempts, as a plain value: the dispatcher gathers what its slots run,
/// asks the plan which pipelines a preemption could serve, asks the store for the job that
/// has waited too long, and asks the plan again which running job makes room for it.
///
/// The rules (`--preempt-after`):
/// - only a job whose pipeline keeps checkpoints, and whose attempt keeps them, is taken;
///   it stops at its next checkpoint, so it loses nothing but the model load, and a job
///   preempted once makes a chunk before it can be preempted again;
/// - only for a job of higher priority, and only when no free slot could run it;
/// - the lowest-priority job goes first; among equals the one that started last;
/// - one preemption at a time on a host: while one is pending, nothing else is chosen.
struct PreemptionPlan {
    struct Running {
        var job: JobID
        var slot: GPUSlot
        var priority: Int
        /// It keeps checkpoints and nothing has asked it to stop.
        var preemptible: Bool
        /// A preemption asked of it and not yet carried out.
        var pending: Bool
        /// The dispatcher's clock when it was claimed.
        var claimedAt: Double
    }

    var running: [Running]
    var free: [GPUSlot]
    var pipelines: [PipelineDefinition]

    /// Whether `slot` can run `pipeline`'s jobs.
    static func fits(_ pipeline: PipelineDefinition, on slot: GPUSlot) -> Bool {
        slot.kind == .cuda || !pipeline.requiresCUDA
    }

    /// What to ask the store, or nil when no preemption can happen now: one is pending, no
    /// running job can be preempted, or every pipeline such a slot runs has a free slot.
    var query: (pipelines: Set<String>, abovePriority: Int)? {
        guard !running.contains(where: \.pending) else { return nil }
        let takeable = running.filter(\.preemptible)
        guard let lowest = takeable.map(\.priority).min() else { return nil }
        let names = pipelines.filter { pipeline in
            !free.contains { Self.fits(pipeline, on: $0) } && takeable.contains { Self.fits(pipeline, on: $0.slot) }
        }.map(\.name)
        return names.isEmpty ? nil : (Set(names), lowest)
    }

    /// The running job `candidate` (of `pipeline`) preempts, if any.
    func victim(for candidate: Job, pipeline: PipelineDefinition) -> Running? {
        running
            .filter { $0.preemptible && $0.priority < candidate.spec.priority && Self.fits(pipeline, on: $0.slot) }
            .min { ($0.priority, -$0.claimedAt) < ($1.priority, -$1.claimedAt) }
    }
}

extension Dispatcher {
    /// Preempts the lowest-priority running job at its next checkpoint for a job that has
    /// waited `--preempt-after` seconds with no slot free; at most once per
    /// ``preemptionCheckSeconds``, and only when a running job could be preempted.
    func preemptIfDue() async {
        guard let after = configuration.preemptAfterSeconds, !draining else { return }
        let now = clockSeconds
        guard now >= nextPreemptionCheck else { return }
        nextPreemptionCheck = now + Self.preemptionCheckSeconds(after: after, poll: configuration.pollSeconds)
        let plan = PreemptionPlan(
            running: slots.entries.compactMap { entry in
                guard let id = entry.job, let (key, control) = newestAttempt(of: id) else { return nil }
                return PreemptionPlan.Running(
                    job: id, slot: entry.slot, priority: control.priority, preemptible: control.preemptible,
                    pending: control.preemptionPending != nil, claimedAt: claimTimes[key] ?? 0)
            },
            free: slots.free, pipelines: Array(context.pipelines.definitions.values))
        guard let query = plan.query else { return }
        let candidate: Job
        do {
            guard let found = try await context.store.preemptionCandidate(PreemptionQuery(
                pipelines: query.pipelines, abovePriority: query.abovePriority,
                waitingSince: context.clock.now().addingTimeInterval(-after)))
            else { return }
            candidate = found
        } catch {
            context.logger.warning("could not look for a job to preempt for", metadata: ["error": "\(error)"])
            return
        }
        // The slots may have changed while the store answered.
        guard let pipeline = context.pipelines[candidate.pipeline],
              let victim = plan.victim(for: candidate, pipeline: pipeline),
              let control = newestAttempt(of: victim.job)?.control, control.preemptible
        else { return }
        control.stopAtNextCheckpoint(.preemption(.init(job: candidate.id, priority: candidate.spec.priority)))
        context.statistics.recordPreemption()
        context.logger.notice("preempting at the next checkpoint", metadata: [
            "job": "\(victim.job)", "priority": "\(victim.priority)", "for": "\(candidate.id)",
            "forPriority": "\(candidate.spec.priority)",
        ])
    }

    /// How often a busy host asks the store for a job to preempt for: a quarter of the
    /// threshold, within [poll, 1 s]. A job waits at most this long past its threshold
    /// before its preemption is asked for; an idle or unpreemptible host asks nothing.
    static func preemptionCheckSeconds(after: Double, poll: Double) -> Double {
        max(poll, min(1, after / 4))
    }
}
