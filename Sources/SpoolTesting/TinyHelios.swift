import Foundation
import SpoolCore
import Synchronization

/// Tiny, randomly initialised Helios checkpoints (`Pipelines/helios/make_tiny.py`), built once
/// per test process, and pipelines that run `Pipelines/helios/worker.py` on them on the CPU:
/// the real diffusers pipelines, the real `from_pretrained`, at a size a CPU makes in seconds.
public enum TinyHelios {
    public enum Layout: String, Sendable, CaseIterable {
        case base, mid, distilled
    }

    /// The Python environment has what the worker needs (``TinyModels/isAvailable``).
    public static var isAvailable: Bool { TinyModels.isAvailable }

    /// The folder holding `base/`, `mid/` and `distilled/`, built on first use.
    public static func checkpoints() async throws -> String { try await TinyModels.checkpoints("helios") }

    /// A benchmark checkpoint as `Pipelines/helios/full_size.py` writes one, at the tiny size: the
    /// Distilled layout with the transformer's and the VAE's weights removed and
    /// `spool-random-weights.json` naming them, so the worker builds both from their
    /// configuration with random weights. Made afresh in `folder`.
    public static func randomWeightsCheckpoint(in folder: String) async throws -> String {
        let source = try await checkpoints() + "/" + Layout.distilled.rawValue
        let target = folder + "/distilled-random-weights"
        let files = FileManager.default
        try files.copyItem(atPath: source, toPath: target)
        for component in ["transformer", "vae"] {
            for name in try files.contentsOfDirectory(atPath: target + "/" + component) where name.hasSuffix(".safetensors") {
                try files.removeItem(atPath: target + "/" + component + "/" + name)
            }
        }
        try Data(#"{"components": ["transformer", "vae"]}"#.utf8).write(to: URL(fileURLWithPath: target + "/spool-random-weights.json"))
        return target
    }

    /// A resident pipeline running the Helios worker on `layout` on the CPU; `trace` names the
    /// worker's trace file (`SPOOL_HELIOS_TRACE`). `folder` replaces the layout's checkpoint.
    public static func pipeline(
        _ layout: Layout, name: String = "helios-tiny", options: [String: String] = [:], trace: String? = nil,
        device: String? = "cpu", startup: Double = 300, folder: String? = nil, checkpoints: Bool = false
    ) async throws -> PipelineDefinition {
        let folder = if let folder { folder } else { try await Self.checkpoints() + "/" + layout.rawValue }
        var command = [PythonTools.python ?? "python3", Repository.pipelines + "/helios/worker.py", "--model", folder]
        if let device { command += ["--device", device] }
        if checkpoints { command += ["--checkpoints", "on"] }
        // One thread a worker: the suite runs beside other tests on a 2-core machine.
        var environment: [String: String] = ["OMP_NUM_THREADS": "1"]
        if let trace { environment["SPOOL_HELIOS_TRACE"] = trace }
        return PipelineDefinition(
            name: name, command: command, environment: environment,
            chunking: .init(frames: 33), sizes: .init(default: FrameSize(width: 128, height: 64)),
            // Generous: importing torch on a loaded 2-core machine takes tens of seconds.
            timeouts: .init(startupSeconds: startup, stallSeconds: 120, cancelSeconds: 30),
            options: options, jobOptions: ["steps", "pyramid_steps", "guidance_scale", "amplify_first_chunk"],
            resident: true, checkpoints: checkpoints)
    }
}

/// The records of a model worker's trace file (`SPOOL_HELIOS_TRACE`, `SPOOL_WAN_TRACE`: spoolkit.Trace), as JSON objects.
public struct WorkerTrace: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var records: [[String: any Sendable]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: any Sendable]
        }
    }

    /// Records of one kind (`load`, `call`, `prompts`, `transformer`), of one job when given.
    public func records(_ kind: String, job: String? = nil) -> [[String: any Sendable]] {
        records.filter { $0["record"] as? String == kind && (job == nil || $0["job_id"] as? String == job) }
    }
}
