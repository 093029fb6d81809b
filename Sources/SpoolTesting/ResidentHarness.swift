import Foundation
import SpoolCore
import SpoolGenerators
import Synchronization

/// A resident worker (protocol 2) started in a scratch folder, and jobs run on it one at a
/// time, as a slot would.
public final class ResidentHarness: Sendable {
    public let root: TemporaryDirectory
    public let worker: Worker
    public let pipelineFolder: String
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

        /// Whether the job ended with `done`.
        public var isDone: Bool {
            if case .done = events.last { return true }
            return false
        }
    }

    /// `pipelineFolder`: what `{pipelines}` in the worker's command stands for; the scratch
    /// folder when nil.
    public init(_ pipeline: PipelineDefinition, pipelineFolder: String? = nil) throws {
        root = try TemporaryDirectory("resident")
        self.pipelineFolder = pipelineFolder ?? root.path
        let exits = exits
        worker = try WorkerLauncher(terminationGrace: 0.3).resident(
            pipeline, pipelineFolder: self.pipelineFolder, slotFolder: root.file("slot"), cudaVisibleDevices: "",
            onExit: { _ in exits.value.withLock { $0 += 1 } })
    }

    /// A harness let go of stops its worker (stdin closed, then its group killed after the
    /// pipeline's cancel timeout): a test's model does not stay loaded beside the next test's.
    deinit {
        worker.stop()
    }

    /// Times the worker's process has been seen to exit (0 or 1).
    public var exitsSeen: Int { exits.value.withLock { $0 } }

    /// Runs one job of `frames` on the worker, once it is ready; `onStart` gets the run, and
    /// `onEvent` each event as it arrives (with the job's folder).
    public func run(
        frames: Int = 16, size: FrameSize = FrameSize(width: 64, height: 48), prompt: String = "test",
        options: [String: String] = [:], conditioning: WorkerConditioning? = nil, timeLimit: Double? = nil,
        resume: WorkerResume? = nil, onStart: (@Sendable (WorkerRun) -> Void)? = nil,
        onEvent: ((WorkerEvent, _ workDir: String, WorkerRun) -> Void)? = nil
    ) async -> Outcome {
        let id = JobID.random()
        let workDir = root.file("slot/\(id)")
        try? FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        let spec = JobSpec(
            prompt: prompt, frames: frames, width: size.width, height: size.height, seed: 3, pipeline: worker.pipeline.name,
            options: options)
        let request = GenerationRequest(
            jobID: id, attempt: 1, spec: spec, pipeline: worker.pipeline, pipelineFolder: pipelineFolder, workDir: workDir,
            cudaVisibleDevices: "", timeLimitSeconds: timeLimit, conditioning: conditioning, resume: resume)
        var events: [WorkerEvent] = []
        do {
            _ = try await worker.waitUntilReady()
            let run = try worker.start(request)
            onStart?(run)
            for try await event in run.events {
                events.append(event)
                onEvent?(event, workDir, run)
            }
        } catch let error as GenerationError {
            return Outcome(events: events, error: error)
        } catch {
            return Outcome(events: events, error: GenerationError(.crashed, "unexpected error \(error)"))
        }
        return Outcome(events: events, error: nil)
    }
}

/// Every chunk file of a job, by index, read as its `chunk` event arrives (`keep` is an `onEvent`
/// for ``ResidentHarness/run(frames:size:prompt:options:conditioning:timeLimit:resume:onStart:onEvent:)``).
public final class KeptChunks: Sendable {
    private let chunks = Mutex<[Int: Data]>([:])

    public init() {}

    public var all: [Int: Data] { chunks.withLock { $0 } }

    public func keep(_ event: WorkerEvent, _ workDir: String, _ run: WorkerRun) {
        if case .chunk(let chunk) = event {
            chunks.withLock { $0[chunk.index] = FileManager.default.contents(atPath: workDir + "/" + chunk.file) }
        }
    }
}
