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
        public var gpuSeconds: Double

        public init(
            name: String, kind: String, index: Int, uuid: String?, model: String?, memoryMiB: Int?, busy: Bool,
            job: String?, gpuSeconds: Double
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
