import Foundation
import SpoolCore

/// Finds the host's GPUs and turns the operator's choice into slots.
public enum GPUInventory {
    /// Which GPUs to use.
    public enum Selection: Hashable, Sendable, CustomStringConvertible {
        /// Every GPU `nvidia-smi` reports.
        case auto
        /// No GPU at all.
        case none
        /// These CUDA device indices.
        case indices([Int])

        /// Parses `auto`, `none` or `0,2`.
        public init?(parsing text: String) {
            switch text.lowercased() {
            case "auto": self = .auto
            case "none": self = .none
            default:
                let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
                self = .indices(parts.map { $0! })
            }
        }

        public var description: String {
            switch self {
            case .auto: "auto"
            case .none: "none"
            case .indices(let list): list.map(String.init).joined(separator: ",")
            }
        }
    }

    public struct SelectionError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits`.
    public static func parse(nvidiaSMI output: String) -> [GPUSlot] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 4, let index = Int(fields[0]) else { return nil }
            return .gpu(index, uuid: fields[1], model: fields[2], memoryMiB: Int(fields[3]))
        }
    }

    /// The GPUs `nvidia-smi` reports; empty when it is missing or finds none.
    public static func detect() -> [GPUSlot] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nvidia-smi", "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return [] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return [] }
        return parse(nvidiaSMI: String(decoding: data, as: UTF8.self))
    }

    /// The slots to run: the selected GPUs, then `virtualSlots` CPU slots.
    ///
    /// - Throws: when `selection` names a GPU that was not detected.
    public static func slots(selection: Selection, virtualSlots: Int, detected: [GPUSlot]) throws -> [GPUSlot] {
        var slots: [GPUSlot]
        switch selection {
        case .auto:
            slots = detected
        case .none:
            slots = []
        case .indices(let indices):
            slots = try indices.map { index in
                guard let gpu = detected.first(where: { $0.index == index }) else {
                    let found = detected.map(\.name).joined(separator: ", ")
                    throw SelectionError(description: "GPU \(index) was not found (detected: \(found.isEmpty ? "none" : found))")
                }
                return gpu
            }
        }
        slots += (0..<max(0, virtualSlots)).map(GPUSlot.virtual)
        return slots
    }
}
