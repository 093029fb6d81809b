import SpoolCore

/// The host's slots as the dispatcher sees them: the job each runs, the model each holds,
/// and where each slot's time goes. A plain value: the dispatcher changes it and acts on
/// what it says.
///
/// A slot's worker is `cold` (none), `loading` a pipeline's model, or `ready` with it; the
/// slot is busy while a job is assigned to it. Its time is counted in one of four ways at
/// every moment: loading a model, generating a job, holding a loaded model with no job
/// (idle resident), or idle.
struct SlotTable: Sendable {
    enum Holding: Sendable, Hashable {
        case cold
        case loading(String)
        case ready(String)

        var pipeline: String? {
            switch self {
            case .cold: nil
            case .loading(let name), .ready(let name): name
            }
        }
    }

    enum Activity: String, Sendable, CaseIterable {
        case loading
        case generating
        case idleResident = "idle_resident"
        case idle
    }

    struct Entry: Sendable {
        let slot: GPUSlot
        /// The job assigned to the slot; busy while set.
        var job: JobID?
        var holding: Holding = .cold
        /// Whether a job's worker is generating on it now.
        var generating = false
        /// When its model last served a job (or finished loading): least recently used first
        /// when a model must make room for another.
        var lastUsed: Double
        /// Seconds spent on each activity, the current one up to `since`.
        var seconds: [Activity: Double] = [:]
        var since: Double
        /// Jobs its current worker has served.
        var jobsServed = 0

        var activity: Activity {
            if generating { return .generating }
            switch holding {
            case .loading: return .loading
            case .ready: return job == nil ? .idleResident : .generating
            case .cold: return job == nil ? .idle : .generating
            }
        }

        /// Seconds on `activity` up to `now`.
        func total(_ activity: Activity, now: Double) -> Double {
            (seconds[activity] ?? 0) + (self.activity == activity ? max(0, now - since) : 0)
        }
    }

    private(set) var entries: [Entry]

    init(slots: [GPUSlot], now: Double) {
        entries = slots.map { Entry(slot: $0, lastUsed: now, since: now) }
    }

    /// Slots with no job, in configured order.
    var free: [GPUSlot] { entries.filter { $0.job == nil }.map(\.slot) }

    func entry(_ name: String) -> Entry? { entries.first { $0.slot.name == name } }

    /// The slot whose job is `id`, if any.
    func slot(of id: JobID) -> GPUSlot? { entries.first { $0.job == id }?.slot }

    /// For each of `pipelines` some free slot can run, the free slot its next job goes to:
    /// one whose worker holds its model (ready, then loading), else a cold one, else the one
    /// whose model was used least recently (evicted). Which job runs is the queue's choice;
    /// this decides only where.
    func choices(for pipelines: [PipelineDefinition]) -> [String: GPUSlot] {
        var chosen: [String: GPUSlot] = [:]
        for pipeline in pipelines {
            let candidates = entries.filter { $0.job == nil && ($0.slot.kind == .cuda || !pipeline.requiresCUDA) }
            guard !candidates.isEmpty else { continue }
            func holding(_ holding: Holding) -> Entry? { candidates.first { $0.holding == holding } }
            let pick = holding(.ready(pipeline.name)) ?? holding(.loading(pipeline.name)) ?? holding(.cold)
                ?? candidates.min { $0.lastUsed < $1.lastUsed }
            chosen[pipeline.name] = pick?.slot
        }
        return chosen
    }

    /// Ready slots whose model has waited for a job since before `cutoff`.
    func idleResidents(since cutoff: Double) -> [GPUSlot] {
        entries.filter { $0.job == nil && $0.activity == .idleResident && $0.lastUsed < cutoff }.map(\.slot)
    }

    // MARK: Changes

    mutating func assign(_ job: JobID, to slot: String, now: Double) {
        change(slot, now: now) { $0.job = job }
    }

    mutating func release(_ slot: String, now: Double) {
        change(slot, now: now) {
            $0.job = nil
            $0.generating = false
            $0.lastUsed = now
        }
    }

    mutating func setGenerating(_ slot: String, _ on: Bool, now: Double) {
        change(slot, now: now) { $0.generating = on }
    }

    mutating func setHolding(_ slot: String, _ holding: Holding, now: Double) {
        change(slot, now: now) { entry in
            if case .ready = holding, case .loading = entry.holding { entry.lastUsed = now }
            if holding == .cold || holding.pipeline != entry.holding.pipeline { entry.jobsServed = 0 }
            entry.holding = holding
        }
    }

    /// A per-job worker spent `seconds` of its job's slot time loading its model: counted as
    /// loading, not generating.
    mutating func reclassifyLoad(_ slot: String, seconds: Double, now: Double) {
        change(slot, now: now) { entry in
            let moved = min(seconds, entry.seconds[.generating] ?? 0)
            entry.seconds[.generating, default: 0] -= moved
            entry.seconds[.loading, default: 0] += moved
        }
    }

    mutating func served(_ slot: String, now: Double) {
        change(slot, now: now) { $0.jobsServed += 1 }
    }

    /// Applies `body` to slot `name`, first closing the books on its current activity.
    private mutating func change(_ name: String, now: Double, _ body: (inout Entry) -> Void) {
        guard let index = entries.firstIndex(where: { $0.slot.name == name }) else { return }
        var entry = entries[index]
        entry.seconds[entry.activity, default: 0] += max(0, now - entry.since)
        entry.since = now
        body(&entry)
        entries[index] = entry
    }
}
