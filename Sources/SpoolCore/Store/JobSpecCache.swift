import Foundation
import Synchronization

/// Decoded job specs, keyed by the JSON text a store keeps them as.
///
/// A spec never changes once its job is enqueued, yet every read of a job (each poll of
/// `GET /v1/jobs/{id}`, each claim, each progress update, which returns the job) would decode
/// it again with `JSONDecoder`: the largest single cost of those reads. Keyed by the text
/// itself rather than the job id, an entry can never be stale.
public final class JobSpecCache: Sendable {
    private let entries = Mutex<[String: JobSpec]>([:])
    private let capacity: Int

    /// - Parameter capacity: entries kept; when full the cache starts over, which costs one
    ///   decode per job read afterwards and keeps the bookkeeping to a dictionary.
    public init(capacity: Int = 8_192) {
        self.capacity = capacity
    }

    /// The JSON text a store keeps `spec` as (sorted keys, so equal specs are equal text),
    /// which ``spec(json:)`` reads back.
    public static func json(for spec: JobSpec) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(spec), as: UTF8.self)
    }

    /// The spec `json` encodes, decoded once.
    public func spec(json: String) throws -> JobSpec {
        if let spec = entries.withLock({ $0[json] }) { return spec }
        let spec = try JSONDecoder().decode(JobSpec.self, from: Data(json.utf8))
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[json] = spec
        }
        return spec
    }
}
