import Dispatch
import Foundation
import GRDB
import Synchronization

/// Funnels every write through one thread and commits whatever has queued up meanwhile
/// in a single durable transaction. When the disk is full, it gives up the store's reserve
/// (see `StoreReserve`) and tries once more, so a job's end can still be written.
///
/// With `synchronous=FULL` each commit costs an fsync (about 0.4 ms on the 2-core CI
/// machines), which caps one-transaction-per-call writes near 2,500/s. Group commit keeps
/// each call's guarantee (it returns only after its own change is on disk) while many
/// concurrent callers share one fsync. Every operation runs in its own savepoint, so one
/// that throws is rolled back alone and the rest of the batch still commits.
final class GroupCommitWriter: Sendable {
    private struct Operation: Sendable {
        let id = UUID()
        /// Runs inside the batch transaction and returns its own failure, which `finish`
        /// reports; a failure is recorded for `finish` either way.
        let run: @Sendable (Database) -> (any Error)?
        /// Called after the commit with nil, or with the error that lost the whole batch.
        let finish: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var pending: [Operation] = []
        var draining = false
    }

    private let writer: any DatabaseWriter
    private let reserve: StoreReserve?
    private let queue = DispatchQueue(label: "spool.sqlite.group-commit", qos: .userInitiated)
    private let state = Mutex(State())
    /// Largest number of operations committed together, to bound one transaction's size.
    private let maxBatch: Int

    init(writer: any DatabaseWriter, reserve: StoreReserve? = nil, maxBatch: Int = 512) {
        self.writer = writer
        self.reserve = reserve
        self.maxBatch = maxBatch
    }

    /// Runs `body` in the next batch and returns its result once the batch is durable.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            let operation = Operation(
                run: { db in
                    let result = Result { () throws -> T in
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        return value!
                    }
                    outcome.withLock { $0 = result }
                    if case .failure(let error) = result { return error }
                    return nil
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.withLock { $0! })
                    }
                }
            )
            let startDrain = state.withLock { state -> Bool in
                state.pending.append(operation)
                if state.draining { return false }
                state.draining = true
                return true
            }
            if startDrain { queue.async { self.drain() } }
        }
    }

    private func drain() {
        var retried: [Operation] = []
        while true {
            let batch = retried.isEmpty ? state.withLock { state -> [Operation] in
                let batch = Array(state.pending.prefix(maxBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            } : retried
            retried = []
            if batch.isEmpty { return }
            var full: [Operation] = []
            do {
                try writer.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        for operation in batch where Self.isFull(operation.run(db)) { full.append(operation) }
                        return .commit
                    }
                }
            } catch {
                // The whole batch was rolled back: once more with the reserve's space, if any.
                if Self.isFull(error), reserve?.release() == true {
                    retried = batch
                    continue
                }
                for operation in batch { operation.finish(error) }
                continue
            }
            // The disk filled under some operations of a batch that committed without them.
            if !full.isEmpty, reserve?.release() == true {
                retried = full
            }
            for operation in batch where retried.isEmpty || !full.contains(where: { $0.id == operation.id }) {
                operation.finish(nil)
            }
            if retried.isEmpty { reserve?.restore() }
        }
    }

    private static func isFull(_ error: (any Error)?) -> Bool {
        (error as? DatabaseError)?.resultCode == .SQLITE_FULL
    }
}
