import Foundation
import SpoolCore

/// Starts pipelines' workers, of either protocol, as ``Worker``s: the one way Spool starts
/// a model's process.
public struct WorkerLauncher: Sendable {
    /// What `{bin}` in a pipeline command expands to: the folder of Spool's executables.
    public var binDirectory: String
    /// Time between SIGTERM and SIGKILL when a worker is ended.
    public var terminationGrace: Double
    /// Extra environment for every worker.
    public var environment: [String: String]

    public init(binDirectory: String = WorkerLauncher.defaultBinDirectory, terminationGrace: Double = 0.5, environment: [String: String] = [:]) {
        self.binDirectory = binDirectory
        self.terminationGrace = terminationGrace
        self.environment = environment
    }

    /// The folder of the running executable (`/proc/self/exe`), where `spool-synthetic-worker` is installed beside `spool`.
    public static var defaultBinDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    /// Processes still alive in a worker's process group, read from /proc (zombies excluded).
    public static func liveProcesses(inGroup group: Int32) -> Int {
        WorkerProcess.liveProcesses(inGroup: group)
    }

    /// A pipeline's worker argv, with `{bin}` and `{pipelines}` expanded.
    public func command(_ pipeline: PipelineDefinition, pipelineFolder: String) -> [String] {
        pipeline.command.map {
            $0.replacingOccurrences(of: "{bin}", with: binDirectory).replacingOccurrences(of: "{pipelines}", with: pipelineFolder)
        }
    }

    /// Starts a per-job worker (protocol 1) on `request`, in its work directory.
    public func start(_ request: GenerationRequest) throws(GenerationError) -> WorkerRun {
        let pipeline = request.pipeline
        let state = WorkerState(
            perJobPipeline: pipeline.name, timeouts: pipeline.timeouts, terminationGrace: terminationGrace,
            run: .init(request, startedAt: 0, lastEvent: nil))
        let worker = try Worker(
            pipeline: pipeline, argv: command(pipeline, pipelineFolder: request.pipelineFolder),
            environment: environment(pipeline, protocol: WorkerRequest.protocolVersion, workDir: request.workDir, cudaVisibleDevices: request.cudaVisibleDevices, jobID: request.jobID),
            workDir: request.workDir, input: request.workerRequest.wireLine + Data("\n".utf8), state: state, onExit: nil)
        let run = WorkerRun(worker: worker, jobID: request.jobID.rawValue)
        worker.begin(with: run)
        return run
    }

    /// Starts a resident worker (protocol 2) of `pipeline` in `slotFolder` (its working
    /// directory, created if missing), which begins loading its model. `onExit` is called
    /// once the process is gone, whatever the reason.
    public func resident(
        _ pipeline: PipelineDefinition, pipelineFolder: String, slotFolder: String, cudaVisibleDevices: String,
        onExit: (@Sendable (Worker) -> Void)? = nil
    ) throws(GenerationError) -> Worker {
        do {
            try FileManager.default.createDirectory(atPath: slotFolder, withIntermediateDirectories: true)
        } catch {
            throw GenerationError(.spawnFailed, "cannot create the worker's folder \(slotFolder): \(error.localizedDescription)")
        }
        let state = WorkerState(residentPipeline: pipeline.name, timeouts: pipeline.timeouts, terminationGrace: terminationGrace, now: 0)
        let worker = try Worker(
            pipeline: pipeline, argv: command(pipeline, pipelineFolder: pipelineFolder),
            environment: environment(pipeline, protocol: WorkerRequest.residentProtocolVersion, workDir: slotFolder, cudaVisibleDevices: cudaVisibleDevices, jobID: nil),
            workDir: slotFolder, input: nil, state: state, onExit: onExit)
        worker.begin()
        return worker
    }

    /// What every worker's environment holds (see `Pipelines/README.md`): Spool's own, this
    /// launcher's extra, the pipeline's, then the protocol's.
    func environment(
        _ pipeline: PipelineDefinition, protocol version: Int, workDir: String, cudaVisibleDevices: String, jobID: JobID?
    ) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in self.environment { environment[key] = value }
        for (key, value) in pipeline.environment { environment[key] = value }
        environment["CUDA_VISIBLE_DEVICES"] = cudaVisibleDevices
        environment["SPOOL_WORK_DIR"] = workDir
        environment["SPOOL_PROTOCOL"] = String(version)
        environment["PYTHONUNBUFFERED"] = "1"
        if let jobID { environment["SPOOL_JOB_ID"] = jobID.rawValue }
        return environment
    }
}
