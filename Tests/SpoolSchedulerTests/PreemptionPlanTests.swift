import Foundation
import SpoolCore
@testable import SpoolScheduler
import SpoolTesting
import Testing

/// The rules of `--preempt-after`, on the plain value that holds them: whom a waiting job may
/// take a slot from, and when the host asks the store at all. The whole path (a real daemon,
/// a checkpoint, the resume) is in `CheckpointTests`.
@Suite("Preemption plan")
struct PreemptionPlanTests {
    static let gpu = GPUSlot(name: "gpu0", kind: .cuda, index: 0)
    static let gpu1 = GPUSlot(name: "gpu1", kind: .cuda, index: 1)
    static let virtual = GPUSlot(name: "virtual0", kind: .virtual, index: 0)

    static func pipeline(_ name: String, cuda: Bool = false) -> PipelineDefinition {
        PipelineDefinition(
            name: name, command: ["true"], chunking: .init(frames: 8), sizes: .init(default: FrameSize(width: 64, height: 48)),
            requiresCUDA: cuda, checkpoints: true)
    }

    static func running(
        _ name: String, on slot: GPUSlot, priority: Int, preemptible: Bool = true, pending: Bool = false, claimedAt: Double = 0
    ) -> PreemptionPlan.Running {
        PreemptionPlan.Running(
            job: JobID(name), slot: slot, priority: priority, preemptible: preemptible, pending: pending, claimedAt: claimedAt)
    }

    static func waiting(priority: Int, pipeline: String = "synthetic") -> Job {
        Job(
            id: JobID("waiting"), spec: Fixtures.spec(priority: priority, pipeline: pipeline), maxAttempts: 3,
            timings: JobTimings(submittedAt: Date()), progress: JobProgress(framesDone: 0, framesTotal: 48))
    }

    @Test func theLowestPriorityJobGoesFirstAndAmongEqualsTheOneThatStartedLast() {
        let plan = PreemptionPlan(
            running: [
                Self.running("old-low", on: Self.gpu, priority: 1, claimedAt: 10),
                Self.running("new-low", on: Self.gpu1, priority: 1, claimedAt: 20),
                Self.running("mid", on: Self.virtual, priority: 3, claimedAt: 30),
            ],
            free: [], pipelines: [Self.pipeline("synthetic")])
        #expect(plan.query?.pipelines == ["synthetic"] && plan.query?.abovePriority == 1)
        #expect(plan.victim(for: Self.waiting(priority: 5), pipeline: Self.pipeline("synthetic"))?.job == JobID("new-low"))
        // Only strictly lower priorities give way.
        #expect(plan.victim(for: Self.waiting(priority: 1), pipeline: Self.pipeline("synthetic")) == nil)
    }

    @Test func onlyJobsThatKeepCheckpointsAndAreNotAlreadyStoppingArePreempted() {
        let pipelines = [Self.pipeline("synthetic")]
        let none = PreemptionPlan(running: [Self.running("a", on: Self.gpu, priority: 0, preemptible: false)], free: [], pipelines: pipelines)
        #expect(none.query == nil)
        #expect(none.victim(for: Self.waiting(priority: 9), pipeline: pipelines[0]) == nil)
        // One preemption at a time: while one is pending, the host asks nothing more.
        let pending = PreemptionPlan(
            running: [Self.running("a", on: Self.gpu, priority: 0, preemptible: false, pending: true), Self.running("b", on: Self.gpu1, priority: 0)],
            free: [], pipelines: pipelines)
        #expect(pending.query == nil)
    }

    @Test func aPipelineWithAFreeSlotOrNoTakeableSlotIsNotAskedFor() {
        let plan = PreemptionPlan(
            running: [Self.running("a", on: Self.virtual, priority: 0)], free: [Self.gpu],
            pipelines: [Self.pipeline("synthetic"), Self.pipeline("helios", cuda: true)])
        // synthetic has a free slot; helios needs CUDA, which the only takeable slot is not.
        #expect(plan.query == nil)
        let busy = PreemptionPlan(
            running: [Self.running("a", on: Self.virtual, priority: 0), Self.running("b", on: Self.gpu, priority: 2)], free: [],
            pipelines: [Self.pipeline("synthetic"), Self.pipeline("helios", cuda: true)])
        #expect(busy.query?.pipelines == ["synthetic", "helios"] && busy.query?.abovePriority == 0)
        // A CUDA job takes only a CUDA slot, though the virtual one runs the lowest priority.
        #expect(busy.victim(for: Self.waiting(priority: 5, pipeline: "helios"), pipeline: Self.pipeline("helios", cuda: true))?.job == JobID("b"))
        #expect(busy.victim(for: Self.waiting(priority: 5), pipeline: Self.pipeline("synthetic"))?.job == JobID("a"))
    }

    @Test func aBusyHostAsksAQuarterOfTheThresholdApartWithinPollAndOneSecond() {
        #expect(Dispatcher.preemptionCheckSeconds(after: 60, poll: 0.25) == 1)
        #expect(Dispatcher.preemptionCheckSeconds(after: 2, poll: 0.25) == 0.5)
        #expect(Dispatcher.preemptionCheckSeconds(after: 0, poll: 0.25) == 0.25)
    }
}
