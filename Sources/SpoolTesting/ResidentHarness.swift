import Foundation
import SpoolCore
import SpoolGenerators
import Synchronization

/// A resident worker (protocol 2) started in a scratch folder, and jobs run on it one at a
/// time, as a slot would.
public final class ResidentHarness: Sendable {
    public let root: TemporaryDirectory
    public let worker: ResidentWorker
    private let exits = Counter()

    final class Counter: Sendable {
        let value = Mutex(0)
    }

    /// What one job produced.
    public struct Outcome: Sendable {
        public var events: [WorkerEvent]
        public var error: GenerationError?
        public var chunks: [ChunkDescriptor] {
            events.compactMap { if case .chunk(let chunk) = $0 { chunk } else { nil } }
        }
    }

    public init(_ pipeline: PipelineDefinition) throws {
        root = try TemporaryDirectory("resident")
        let exits = exits
        worker = try ResidentWorker(
            pipeline: pipeline, pipelineFolder: root.path, slotFolder: root.file("slot"), cudaVisibleDevices: "",
            terminationGrace: 0.3, onExit: { _ in exits.value.withLock { $0 += 1 } })
    }

    /// Times the worker's process has been seen to exit (0 or 1).
    public var exitsSeen: Int { exits.value.withLock { $0 } }

    /// Runs one job of `frames` on the worker, once it is ready; `onStart` gets the run.
    public func run(
        frames: Int = 16, timeLimit: Double? = nil, onStart: (@Sendable (any GenerationRun) -> Void)? = nil
    ) async -> Outcome {
        let id = JobID.random()
        let workDir = root.file("slot/\(id)")
        try? FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        let spec = JobSpec(prompt: "test", frames: frames, width: 64, height: 48, seed: 3, pipeline: worker.pipeline.name)
        let request = GenerationRequest(
            jobID: id, attempt: 1, spec: spec, pipeline: worker.pipeline, pipelineFolder: root.path, workDir: workDir,
            cudaVisibleDevices: "", timeLimitSeconds: timeLimit)
        var events: [WorkerEvent] = []
        do {
            _ = try await worker.waitUntilReady()
            let run = try worker.start(request)
            onStart?(run)
            for try await event in run.events { events.append(event) }
        } catch let error as GenerationError {
            return Outcome(events: events, error: error)
        } catch {
            return Outcome(events: events, error: GenerationError(.crashed, "unexpected error \(error)"))
        }
        return Outcome(events: events, error: nil)
    }
}
