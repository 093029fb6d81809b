import SpoolCore

/// A host's slots, as `GET /v1/gpus` shows them.
public struct GPUList: Codable, Sendable, Hashable {
    public struct Slot: Codable, Sendable, Hashable {
        public var name: String
        /// `cuda` or `virtual`.
        public var kind: String
        public var index: Int
        public var uuid: String?
        public var model: String?
        public var memoryMiB: Int?
        public var busy: Bool
        /// The job on the slot, when busy.
        public var job: String?
        /// Slot time held by jobs.
        public var gpuSeconds: Double
        /// `cold`, `loading`, `ready` or `busy`.
        public var state: String
        /// The pipeline whose model the slot's resident worker holds (loading or loaded).
        public var holds: String?
        /// The resident worker's process id.
        public var workerPid: Int32?
        /// Jobs the resident worker has served.
        public var jobsServed: Int
        /// Models loaded on the slot since the host started.
        public var modelLoads: Int
        /// Seconds spent loading models, generating, and holding a loaded model with no job.
        public var loadingSeconds: Double
        public var generatingSeconds: Double
        public var idleResidentSeconds: Double

        public init(
            name: String, kind: String, index: Int, uuid: String?, model: String?, memoryMiB: Int?, busy: Bool,
            job: String?, gpuSeconds: Double, state: String = "cold", holds: String? = nil, workerPid: Int32? = nil,
            jobsServed: Int = 0, modelLoads: Int = 0, loadingSeconds: Double = 0, generatingSeconds: Double = 0,
            idleResidentSeconds: Double = 0
        ) {
            self.name = name
            self.kind = kind
            self.index = index
            self.uuid = uuid
            self.model = model
            self.memoryMiB = memoryMiB
            self.busy = busy
            self.job = job
            self.gpuSeconds = gpuSeconds
            self.state = state
            self.holds = holds
            self.workerPid = workerPid
            self.jobsServed = jobsServed
            self.modelLoads = modelLoads
            self.loadingSeconds = loadingSeconds
            self.generatingSeconds = generatingSeconds
            self.idleResidentSeconds = idleResidentSeconds
        }
    }

    /// A folder the host writes to, and the space left there.
    public struct Folder: Codable, Sendable, Hashable {
        /// `work` or `videos`.
        public var name: String
        public var path: String
        public var freeBytes: Int

        public init(name: String, path: String, freeBytes: Int) {
            self.name = name
            self.path = path
            self.freeBytes = freeBytes
        }
    }

    public var host: String
    public var slots: [Slot]
    public var folders: [Folder]
    /// Why jobs wait on this host though a slot is free (disk space), if they do.
    public var waitingReason: String?

    public init(host: String, slots: [Slot], folders: [Folder] = [], waitingReason: String? = nil) {
        self.host = host
        self.slots = slots
        self.folders = folders
        self.waitingReason = waitingReason
    }
}
