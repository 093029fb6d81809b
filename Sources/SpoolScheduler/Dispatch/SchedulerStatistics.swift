import Synchronization

/// Running figures a host keeps about its slots: for the benchmark and `/metrics`.
public final class SchedulerStatistics: Sendable {
    public struct Snapshot: Sendable {
        /// Seconds from a slot's release to the next worker started on it.
        public var slotGaps: [Double]
        /// Seconds each slot was held by jobs, by slot name.
        public var heldSeconds: [String: Double]
        public var attemptsStarted: Int
        /// Frames encoded, and the encoder's busy seconds, over all finished jobs.
        public var framesEncoded: Int
        public var encodeBusySeconds: Double
        /// Writes the store refused (each try counts).
        public var storeWriteFailures = 0
        /// Outcomes of attempts kept until the store accepts them.
        public var pendingOutcomes = 0
        /// Jobs the reconciler found running in the store with no execution holding them.
        public var orphansSettled = 0
        /// Resident workers started (each a model load), by slot.
        public var modelLoads: [String: Int] = [:]
        /// Attempts that went on from a checkpoint, and the slot time the frames they kept would
        /// have cost at each attempt's own pace.
        public var resumes = 0
        public var secondsSavedByResume = 0.0
        /// Running jobs asked to give their slot up at their next checkpoint (`--preempt-after`).
        public var preemptions = 0
        /// Claims asked of the store, and those that found no job (a fleet's herd, issue 33).
        public var claims = 0
        public var emptyClaims = 0
    }

    private let state = Mutex(Snapshot(slotGaps: [], heldSeconds: [:], attemptsStarted: 0, framesEncoded: 0, encodeBusySeconds: 0))

    public init() {}

    func recordStart(gap: Double?) {
        state.withLock {
            $0.attemptsStarted += 1
            if let gap { $0.slotGaps.append(gap) }
        }
    }

    func recordHeld(slot: String, seconds: Double) {
        state.withLock { $0.heldSeconds[slot, default: 0] += seconds }
    }

    func recordEncode(frames: Int, busySeconds: Double) {
        state.withLock {
            $0.framesEncoded += frames
            $0.encodeBusySeconds += busySeconds
        }
    }

    func recordStoreWriteFailure() {
        state.withLock { $0.storeWriteFailures += 1 }
    }

    func setPendingOutcomes(_ count: Int) {
        state.withLock { $0.pendingOutcomes = count }
    }

    func recordModelLoad(slot: String) {
        state.withLock { $0.modelLoads[slot, default: 0] += 1 }
    }

    func recordResume(savedSeconds: Double) {
        state.withLock {
            $0.resumes += 1
            $0.secondsSavedByResume += max(0, savedSeconds)
        }
    }

    func recordClaim(found: Bool) {
        state.withLock {
            $0.claims += 1
            if !found { $0.emptyClaims += 1 }
        }
    }

    func recordPreemption() {
        state.withLock { $0.preemptions += 1 }
    }

    func recordOrphansSettled(_ count: Int) {
        state.withLock { $0.orphansSettled += count }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
}
