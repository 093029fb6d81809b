import SpoolCore
import SpoolGenerators

/// What a slot is doing, for `GET /v1/gpus`, `/metrics` and tests.
public struct SlotReport: Sendable, Hashable {
    /// `cold`, `loading`, `ready` or `busy`.
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case cold, loading, ready, busy
    }

    public var slot: GPUSlot
    public var state: State
    /// The job on the slot, when busy.
    public var job: JobID?
    /// The pipeline whose model its resident worker holds (loading or loaded).
    public var holds: String?
    /// The resident worker's process id.
    public var workerPID: Int32?
    /// Jobs its current resident worker has served.
    public var jobsServed: Int
    /// Models loaded on the slot since the host started.
    public var modelLoads: Int
    /// Seconds the slot spent loading models, generating, and holding a model with no job.
    public var loadingSeconds: Double
    public var generatingSeconds: Double
    public var idleResidentSeconds: Double
}

extension Dispatcher {
    /// Every slot, in configured order.
    public var slotReports: [SlotReport] {
        let now = clockSeconds
        let loads = context.statistics.snapshot.modelLoads
        return slots.entries.map { entry in
            let state: SlotReport.State = if entry.job != nil {
                .busy
            } else {
                switch entry.holding {
                case .cold: .cold
                case .loading: .loading
                case .ready: .ready
                }
            }
            return SlotReport(
                slot: entry.slot, state: state, job: entry.job, holds: entry.holding.pipeline,
                workerPID: residents[entry.slot.name]?.processGroup, jobsServed: residents[entry.slot.name]?.jobsServed ?? 0,
                modelLoads: loads[entry.slot.name] ?? 0, loadingSeconds: entry.total(.loading, now: now),
                generatingSeconds: entry.total(.generating, now: now), idleResidentSeconds: entry.total(.idleResident, now: now))
        }
    }
}
