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

    public var host: String
    public var slots: [Slot]

    public init(host: String, slots: [Slot]) {
        self.host = host
        self.slots = slots
    }
}
