import Foundation
import Synchronization
import SpoolCore

/// The ended attempts the router judges pipelines by, kept between submissions: the first
/// routed job reads the window's attempts (at most ``limit``), each later one only those that
/// ended since the newest it has, less ``overlap``.
///
/// Why: reading the whole window for every routed job cost 29 ms a submission with 5,000
/// attempts of history, against 0.25 ms for a job naming its pipeline (`spool-bench routing`,
/// SQLite); reading what is new costs next to nothing. The overlap takes in an attempt another
/// host ended a moment earlier by its own clock but committed after the last read; attempts
/// are told apart by job and number, so one read twice counts once.
final class RoutingHistory: Sendable {
    static let limit = 5_000
    /// How far before the newest attempt held each read goes again.
    static let overlap: TimeInterval = 10

    private struct State {
        var records: [AttemptRecord.Key: AttemptRecord] = [:]
        var newest: Date?
        var summary: [String: PipelineHistory] = [:]
    }

    private let state = Mutex(State())

    /// Each pipeline's history over the `window` before `now`, with what `store` has added.
    func current(from store: any JobStore, window: TimeInterval, now: Date) async throws -> [String: PipelineHistory] {
        let start = now.addingTimeInterval(-window)
        let newest = state.withLock { $0.newest }
        let since = newest.map { max(start, $0.addingTimeInterval(-Self.overlap)) } ?? start
        let fresh = try await store.endedAttempts(since: since, limit: Self.limit)
        return state.withLock { state in
            var changed = false
            for record in fresh {
                if state.records[record.key] != record {
                    state.records[record.key] = record
                    changed = true
                }
                if state.newest.map({ record.endedAt > $0 }) ?? true { state.newest = record.endedAt }
            }
            let expired = state.records.filter { $0.value.endedAt < start }.map(\.key)
            for key in expired { state.records[key] = nil }
            if state.records.count > Self.limit {
                // The newest `limit` are what one read of the whole window would give.
                let oldest = state.records.sorted { $0.value.endedAt > $1.value.endedAt }.dropFirst(Self.limit).map(\.key)
                for key in oldest { state.records[key] = nil }
            }
            if changed || !expired.isEmpty { state.summary = PipelineHistory.summarize(Array(state.records.values)) }
            return state.summary
        }
    }
}
