import Foundation

/// A Spool host in the store's registry: what it can run and when it was last seen.
///
/// Hosts register when their dispatcher starts, refresh `heartbeatAt` with every lease
/// renewal and deregister on a graceful stop; a host killed outright simply stops
/// refreshing and is no longer counted as live.
public struct HostRecord: Sendable, Hashable, Codable {
    public var name: String
    public var slots: [GPUSlot]
    /// Pipelines the host has loaded.
    public var pipelines: [String]
    public var version: String
    public var startedAt: Date
    public var heartbeatAt: Date
    /// Resident pipelines whose model the host holds on a free slot: a job of one of them
    /// starts there without a load.
    public var readyPipelines: [String]

    public init(
        name: String, slots: [GPUSlot], pipelines: [String], version: String = Spool.version, startedAt: Date, heartbeatAt: Date,
        readyPipelines: [String] = []
    ) {
        self.name = name
        self.slots = slots
        self.pipelines = pipelines
        self.version = version
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.readyPipelines = readyPipelines
    }

    enum CodingKeys: String, CodingKey { case name, slots, pipelines, version, startedAt, heartbeatAt, readyPipelines }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        slots = try c.decode([GPUSlot].self, forKey: .slots)
        pipelines = try c.decode([String].self, forKey: .pipelines)
        version = try c.decode(String.self, forKey: .version)
        startedAt = try c.decode(Date.self, forKey: .startedAt)
        heartbeatAt = try c.decode(Date.self, forKey: .heartbeatAt)
        // Written by hosts of an earlier version without it.
        readyPipelines = try c.decodeIfPresent([String].self, forKey: .readyPipelines) ?? []
    }

    /// Whether the host refreshed its record within `window` seconds of `now`.
    public func isLive(at now: Date, window: Double) -> Bool {
        now.timeIntervalSince(heartbeatAt) <= window
    }

    /// Whether one of its slots can run `pipeline`.
    public func canRun(_ pipeline: PipelineDefinition) -> Bool {
        pipelines.contains(pipeline.name) && slots.contains { $0.kind == .cuda || !pipeline.requiresCUDA }
    }
}
