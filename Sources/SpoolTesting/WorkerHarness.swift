import Foundation
import SpoolCore
import SpoolGenerators

/// Runs a per-job worker through ``WorkerLauncher`` in a scratch folder and records what happened.
public struct WorkerHarness: Sendable {
    /// What a run produced.
    public struct Outcome: Sendable {
        public var events: [WorkerEvent]
        public var error: GenerationError?
        /// The worker's process group, to check that nothing of it survives.
        public var processGroup: Int32?
        public var seconds: Double
        /// Entries of the scratch root other than the work directory afterwards.
        public var strayFiles: [String]

        public var chunks: [ChunkDescriptor] {
            events.compactMap { if case .chunk(let chunk) = $0 { chunk } else { nil } }
        }
    }

    public let root: TemporaryDirectory
    public var workDir: String { root.file("work") }

    /// Runs `body` on a thread of its own once the worker's first chunk file exists: a
    /// test's hand on the worker that does not wait for the test's task to be scheduled
    /// (on a loaded machine that can take seconds, while the worker goes on).
    public func afterFirstChunk(_ body: @escaping @Sendable () -> Void) {
        let first = "\(workDir)/chunk-00000.rgb"
        let thread = Thread {
            while !FileManager.default.fileExists(atPath: first) { Thread.sleep(forTimeInterval: 0.002) }
            body()
        }
        thread.start()
    }

    public init() throws {
        root = try TemporaryDirectory("worker")
        try FileManager.default.createDirectory(atPath: root.file("work"), withIntermediateDirectories: true)
    }

    /// Starts the worker, cancels it once `cancelWhen` holds (checked on a thread of its own
    /// every 2 ms, with the worker's process group), and collects its events until the stream
    /// ends. `onStart` gets the run as soon as the worker is started, to pause, resume or
    /// cancel it from a thread of its own.
    public func run(
        _ pipeline: PipelineDefinition, frames: Int = 20, pipelineFolder: String? = nil, timeLimit: Double? = nil,
        cancelWhen: (@Sendable (_ group: Int32) -> Bool)? = nil, resume: WorkerResume? = nil,
        launcher: WorkerLauncher = WorkerLauncher(), onStart: (@Sendable (WorkerRun) -> Void)? = nil
    ) async -> Outcome {
        let spec = JobSpec(prompt: "test", frames: frames, width: 64, height: 48, seed: 3, pipeline: pipeline.name)
        let request = GenerationRequest(
            jobID: .random(), attempt: 1, spec: spec, pipeline: pipeline, pipelineFolder: pipelineFolder ?? root.path, workDir: workDir,
            cudaVisibleDevices: "", timeLimitSeconds: timeLimit, resume: resume)
        let started = Date()
        var events: [WorkerEvent] = []
        var failure: GenerationError?
        var group: Int32?
        do {
            let run = try launcher.start(request)
            group = run.processGroup
            onStart?(run)
            if let cancelWhen {
                let group = run.processGroup
                Thread {
                    while !cancelWhen(group) { Thread.sleep(forTimeInterval: 0.002) }
                    run.cancel(reason: "cancelled by the test")
                }.start()
            }
            for try await event in run.events { events.append(event) }
        } catch let error as GenerationError {
            failure = error
        } catch {
            failure = GenerationError(.crashed, "unexpected error \(error)")
        }
        // `work.pgid` is the launcher's own record of the worker's process group (for the
        // orphan reaper), written beside the work directory as it spawns; not the worker's.
        let stray = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0 != "work" && $0 != "work.pgid" }
        return Outcome(events: events, error: failure, processGroup: group, seconds: Date().timeIntervalSince(started), strayFiles: stray)
    }
}
