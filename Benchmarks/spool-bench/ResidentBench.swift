import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolScheduler
import SpoolSQLite

/// Resident workers against per-job workers, in one run: the same synthetic jobs on the same
/// slots with the same model load, once with a worker loaded per job (protocol 1, the anchor)
/// and once with a worker per slot that keeps its model (protocol 2).
struct ResidentBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resident", abstract: "Resident workers against per-job workers.")

    @Option(help: "Jobs.") var jobs = 24
    @Option(help: "Frames a job.") var frames = 96
    @Option(help: "Virtual slots.") var slots = 2
    @Option(help: "The model's load, in seconds.") var load = 5.0
    @Option(help: "Generation time a frame, in milliseconds.") var frameCost = 10.0
    @Option(help: "Scratch folder.") var folder = FileManager.default.currentDirectoryPath + "/.build"

    struct Run {
        var makespan: Double
        var jobs: [Job]
        var slots: [SlotReport]
        var loadingSeconds: Double { slots.map(\.loadingSeconds).reduce(0, +) }
        var generationSeconds: Double { jobs.map(\.gpuSeconds).reduce(0, +) }
    }

    func run() async throws {
        print("== Resident workers: \(jobs) synthetic jobs of \(frames) frames on \(slots) virtual slots, a \(load) s model load ==")
        let perJob = try await measure(resident: false)
        let resident = try await measure(resident: true)
        let ideal = resident.generationSeconds / Double(slots) + load
        report("resident makespan", resident.makespan, unit: "s", anchor: ideal,
               anchorName: "ideal (generation of all jobs / \(slots) + one load)", target: "ratio <= 1.05")
        report("  per-job workers' makespan (the anchor, same jobs)", perJob.makespan, unit: "s", anchor: resident.makespan,
               anchorName: "resident makespan")
        report("resident GPU-seconds a job", resident.generationSeconds / Double(jobs), unit: "s",
               anchor: perJob.generationSeconds / Double(jobs), anchorName: "per-job workers' GPU-seconds a job")
        report("resident slot time loading", resident.loadingSeconds, unit: "s", anchor: load * Double(slots),
               anchorName: "one load a slot", target: "exactly one load a slot")
        print("  model loads a slot, resident: \(resident.slots.map(\.modelLoads)); per-job: \(perJob.slots.map(\.modelLoads))")
        report("per-job workers' slot time loading", perJob.loadingSeconds, unit: "s", anchor: load * Double(jobs),
               anchorName: "one load a job")
        let cold = resident.jobs.filter { $0.coldStart == true }.count
        print("  resident: \(cold) cold starts (each slot's first job), \(jobs - cold) warm")
    }

    func measure(resident: Bool) async throws -> Run {
        let dir = "\(folder)/spool-bench-resident-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pipeline = PipelineDefinition(
            name: "model",
            command: ["{bin}/spool-synthetic-worker", "--trim", "helios", "--steps", "1", "--frame-cost-ms", String(frameCost),
                      "--load-seconds", String(load)],
            chunking: .init(frames: 33), sizes: .init(default: FrameSize(width: 128, height: 72)),
            timeouts: .init(startupSeconds: load + 60, stallSeconds: 60), resident: resident)
        let configuration = SchedulerConfiguration(
            host: "bench", data: DataDirectory(dir), slots: (0..<slots).map(GPUSlot.virtual), defaultPipeline: "model",
            encoder: EncoderSettings(preset: "ultrafast"), heartbeatSeconds: 1, pollSeconds: 0.25, minFreeSpaceBytes: 0)
        let specs = (0..<jobs).map { JobSpec(prompt: "bench \($0)", frames: frames, pipeline: "model") }
        let (_, finished, makespan, reports) = try await runToTheEnd(specs, pipeline: pipeline, configuration: configuration)
        precondition(finished.allSatisfy { $0.state == .succeeded }, "every job succeeded: \(finished.compactMap(\.error))")
        print("  \(resident ? "resident" : "per-job") run: \(String(format: "%.2f", makespan)) s")
        return Run(makespan: makespan, jobs: finished, slots: reports)
    }
}
