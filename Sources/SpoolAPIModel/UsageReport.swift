import Foundation

/// `GET /v1/usage`: each tenant's use of the pool over the last day, against its limits. A
/// user's token sees its own tenant alone; an admin's, every tenant.
public struct UsageReport: Codable, Sendable, Hashable {
    public struct Tenant: Codable, Sendable, Hashable {
        /// nil: the host's own jobs (its `--token-file` token, loopback without tokens).
        public var tenant: String?
        /// Slot time in the window: attempts that ended in it, and its running jobs' so far
        /// (what `gpuSecondsPerDay` counts).
        public var gpuSeconds: Double
        public var queued: Int
        /// Jobs on a slot (what `maxRunning` counts).
        public var running: Int
        /// Jobs off their slot, their video being finished.
        public var encoding: Int
        public var limits: Limits?
        /// Why its queued jobs wait, when a limit holds them.
        public var waitingReason: String?

        public init(
            tenant: String?, gpuSeconds: Double, queued: Int, running: Int, encoding: Int = 0, limits: Limits?,
            waitingReason: String? = nil
        ) {
            self.tenant = tenant
            self.gpuSeconds = gpuSeconds
            self.queued = queued
            self.running = running
            self.encoding = encoding
            self.limits = limits
            self.waitingReason = waitingReason
        }
    }

    public struct Limits: Codable, Sendable, Hashable {
        public var maxQueued: Int?
        public var maxRunning: Int?
        public var gpuSecondsPerDay: Double?
        public var maxGpuSecondsPerJob: Double?

        public init(maxQueued: Int?, maxRunning: Int? = nil, gpuSecondsPerDay: Double? = nil, maxGpuSecondsPerJob: Double?) {
            self.maxQueued = maxQueued
            self.maxRunning = maxRunning
            self.gpuSecondsPerDay = gpuSecondsPerDay
            self.maxGpuSecondsPerJob = maxGpuSecondsPerJob
        }
    }

    /// The window's length, in seconds, and when it started.
    public var windowSeconds: Double
    public var since: Date
    public var tenants: [Tenant]
    /// Jobs queued in the pool, every tenant's: a user's queue positions count its own jobs
    /// alone, and this says how busy the rest is (a number, naming no job).
    public var queuedInPool: Int

    public init(windowSeconds: Double, since: Date, tenants: [Tenant], queuedInPool: Int) {
        self.windowSeconds = windowSeconds
        self.since = since
        self.tenants = tenants
        self.queuedInPool = queuedInPool
    }
}
