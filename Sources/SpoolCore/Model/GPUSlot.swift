/// One place a job can run: a real GPU, or a virtual slot for CPU-only pipelines.
public struct GPUSlot: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable {
        case cuda
        case virtual
    }

    /// `gpu0`, `gpu2`, `virtual1`: what jobs and metrics call the slot.
    public var name: String
    public var kind: Kind
    /// The CUDA device index for a GPU; a counter for virtual slots.
    public var index: Int
    public var uuid: String?
    public var model: String?
    public var memoryMiB: Int?

    public init(name: String, kind: Kind, index: Int, uuid: String? = nil, model: String? = nil, memoryMiB: Int? = nil) {
        self.name = name
        self.kind = kind
        self.index = index
        self.uuid = uuid
        self.model = model
        self.memoryMiB = memoryMiB
    }

    public static func gpu(_ index: Int, uuid: String? = nil, model: String? = nil, memoryMiB: Int? = nil) -> GPUSlot {
        GPUSlot(name: "gpu\(index)", kind: .cuda, index: index, uuid: uuid, model: model, memoryMiB: memoryMiB)
    }

    public static func virtual(_ index: Int) -> GPUSlot {
        GPUSlot(name: "virtual\(index)", kind: .virtual, index: index)
    }

    /// What the worker's `CUDA_VISIBLE_DEVICES` is set to: its one GPU, or none.
    public var cudaVisibleDevices: String { kind == .cuda ? String(index) : "" }

    public var description: String {
        switch kind {
        case .cuda: "\(name) (\(model ?? "GPU")\(memoryMiB.map { ", \($0) MiB" } ?? ""))"
        case .virtual: "\(name) (virtual, CPU pipelines only)"
        }
    }
}
