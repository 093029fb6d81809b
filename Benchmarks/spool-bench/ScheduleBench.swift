import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolScheduler
import SpoolSQLite

/// Many synthetic jobs of a fixed generation time on virtual slots, as real worker
/// processes: makespan against the ideal schedule, slot hand-over gaps, GPU-seconds.
struct ScheduleBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedule", abstract: "Dispatch efficiency and accounting.")

    @Option(help: "Jobs.") var jobs = 200
    @Option(help: "Virtual slots.") var slots = 4
    @Option(help: "Generation time of each job, in seconds.") var seconds = 1.0
    @Option(help: "Scratch folder.") var folder = FileManager.default.currentDirectoryPath + "/.build"

    func run() async throws {
        print("== Scheduling: \(jobs) synthetic jobs of \(seconds) s on \(slots) virtual slots ==")
        let dir = "\(folder)/spool-bench-schedule-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = 24
        let pipeline = PipelineDefinition(
            name: "synthetic",
            command: ["{bin}/spool-synthetic-worker", "--steps", "1", "--frame-cost-ms", String(seconds * 1_000 / Double(frames))],
            chunking: .init(frames: 24), sizes: .init(default: FrameSize(width: 64, height: 48)),
            timeouts: .init(startupSeconds: 30, stallSeconds: 30))
        let configuration = SchedulerConfiguration(
            host: "bench", data: DataDirectory(dir), slots: (0..<slots).map(GPUSlot.virtual),
            encoder: EncoderSettings(preset: "ultrafast"), heartbeatSeconds: 1, pollSeconds: 0.25)
        let specs = (0..<jobs).map { JobSpec(prompt: "bench \($0)", frames: frames) }
        let (host, finished, makespan, _) = try await runToTheEnd(specs, pipeline: pipeline, configuration: configuration)

        precondition(finished.allSatisfy { $0.state == .succeeded }, "every job succeeded")
        let rounds = Double((jobs + slots - 1) / slots)
        report("makespan", makespan, unit: "s", anchor: rounds * seconds, anchorName: "ideal schedule (\(Int(rounds)) rounds x \(seconds) s)",
               target: "ratio <= 1.03")
        let stats = host.statistics.snapshot
        let held = stats.heldSeconds.values.reduce(0, +)
        report("  makespan vs ideal from measured slot time", makespan, unit: "s", anchor: held / Double(slots),
               anchorName: "sum of slot time / \(slots)")
        let gaps = stats.slotGaps.map { $0 * 1_000 }
        report("  slot freed -> next worker started, p50", percentile(gaps, 0.5), unit: "ms", target: "<= 5 ms")
        report("  slot freed -> next worker started, p99", percentile(gaps, 0.99), unit: "ms", target: "<= 20 ms")
        let reported = finished.map(\.gpuSeconds).reduce(0, +)
        report("  GPU-seconds reported on jobs", reported, unit: "s", anchor: held, anchorName: "slot time measured by the dispatcher",
               target: "within 1%")
        print("  \(gaps.count) hand-overs; mean job slot time \(String(format: "%.3f", held / Double(jobs))) s")
    }
}
