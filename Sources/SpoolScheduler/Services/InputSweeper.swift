import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolMedia

/// Removes the inputs no stored job refers to once they have gone unused for the retention
/// period (an upload whose job was refused, the input of a job since deleted), and uploads a
/// crashed process abandoned half-written. Runs at start and then every twelfth of the period.
public struct InputSweeper: Service {
    let store: any JobStore
    let inputs: InputLibrary
    let retentionSeconds: Double
    let clock: any WallClock
    let logger: Logger

    public init(store: any JobStore, inputs: InputLibrary, retentionSeconds: Double, clock: any WallClock, logger: Logger) {
        self.store = store
        self.inputs = inputs
        self.retentionSeconds = retentionSeconds
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: max(1, retentionSeconds / 12)) { await sweep() }
    }

    /// One pass; returns the hashes removed.
    @discardableResult
    public func sweep() async -> [String] {
        do {
            let referenced = try await store.referencedInputs()
            let removed = inputs.sweep(keeping: referenced, unusedSince: clock.now().addingTimeInterval(-retentionSeconds))
            if !removed.isEmpty { logger.info("removed inputs no job refers to", metadata: ["count": "\(removed.count)"]) }
            return removed
        } catch {
            logger.warning("could not sweep the inputs folder", metadata: ["error": "\(error)"])
            return []
        }
    }
}
