import Foundation

/// `GET /v1/usage`: each tenant's use of the pool over the last day, against its limits. A
/// user's token sees its own tenant alone; an admin's, every tenant.
public struct UsageReport: Codable, Sendable, Hashable {
    public struct Tenant: Codable, Sendable, Hashable {
        /// nil: the host's own jobs (its `--token-file` token, loopback without tokens).
        public var tenant: String?
        /// Slot time of its attempts that ended in the window.
        public var gpuSeconds: Double
        public var queued: Int
        public var running: Int
        public var limits: Limits?

        public init(tenant: String?, gpuSeconds: Double, queued: Int, running: Int, limits: Limits?) {
            self.tenant = tenant
            self.gpuSeconds = gpuSeconds
            self.queued = queued
            self.running = running
            self.limits = limits
        }
    }

    public struct Limits: Codable, Sendable, Hashable {
        public var maxQueued: Int?
        public var maxGpuSecondsPerJob: Double?

        public init(maxQueued: Int?, maxGpuSecondsPerJob: Double?) {
            self.maxQueued = maxQueued
            self.maxGpuSecondsPerJob = maxGpuSecondsPerJob
        }
    }

    /// The window's length, in seconds, and when it started.
    public var windowSeconds: Double
    public var since: Date
    public var tenants: [Tenant]

    public init(windowSeconds: Double, since: Date, tenants: [Tenant]) {
        self.windowSeconds = windowSeconds
        self.since = since
        self.tenants = tenants
    }
}
