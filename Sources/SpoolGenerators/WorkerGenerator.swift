#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpoolCore

/// Runs a pipeline's worker as a child process speaking worker protocol 1.
public struct WorkerGenerator: VideoGenerator {
    /// What `{bin}` in a pipeline command expands to: the folder of Spool's executables.
    public var binDirectory: String
    /// Time between SIGTERM and SIGKILL when a worker is stopped.
    public var terminationGrace: Double
    /// Extra environment for every worker.
    public var environment: [String: String]

    public init(binDirectory: String = WorkerGenerator.defaultBinDirectory, terminationGrace: Double = 0.5, environment: [String: String] = [:]) {
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

    /// The worker's argv, with `{bin}` and `{pipelines}` expanded.
    public func command(for request: GenerationRequest) -> [String] {
        Self.expand(request.pipeline.command, binDirectory: binDirectory, pipelineFolder: request.pipelineFolder)
    }

    /// `command` with `{bin}` and `{pipelines}` expanded.
    static func expand(_ command: [String], binDirectory: String, pipelineFolder: String) -> [String] {
        command.map {
            $0.replacingOccurrences(of: "{bin}", with: binDirectory).replacingOccurrences(of: "{pipelines}", with: pipelineFolder)
        }
    }

    public func start(_ request: GenerationRequest) throws(GenerationError) -> any GenerationRun {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in self.environment { environment[key] = value }
        for (key, value) in request.pipeline.environment { environment[key] = value }
        environment["CUDA_VISIBLE_DEVICES"] = request.cudaVisibleDevices
        environment["SPOOL_WORK_DIR"] = request.workDir
        environment["SPOOL_JOB_ID"] = request.jobID.rawValue
        environment["SPOOL_PROTOCOL"] = String(WorkerRequest.protocolVersion)
        environment["PYTHONUNBUFFERED"] = "1"
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        let input = (try? encoder.encode(request.workerRequest)) ?? Data()
        let process = try WorkerProcess(
            argv: command(for: request), environment: environment, workDir: request.workDir, input: input + Data("\n".utf8))
        return WorkerRun(process: process, request: request, grace: terminationGrace)
    }
}
