import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolScheduler
import SpoolSQLite

/// `swift run -c release spool-bench [store|postgres|encode|schedule|resident|all]`: the figures the README
/// reports, each next to its anchor measured in the same run.
@main
struct SpoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool-bench",
        abstract: "Measure Spool against its anchors: fsync rate, the ffmpeg CLI, an ideal schedule.",
        subcommands: [All.self, StoreBench.self, PostgresBench.self, EncodeBench.self, EncodeOne.self, ScheduleBench.self, ResidentBench.self, LiveBench.self, ResumeBench.self, OutageBench.self, FairShareBench.self, FleetBench.self, RoutingBench.self],
        defaultSubcommand: All.self)
}

struct All: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "all", abstract: "Every benchmark.")
    func run() async throws {
        try await StoreBench.parse([]).run()
        try await PostgresBench.parse([]).run()
        try await EncodeBench.parse([]).run()
        try await ScheduleBench.parse([]).run()
        try await ResidentBench.parse([]).run()
        try await ResumeBench.parse([]).run()
        try await OutageBench.parse([]).run()
    }
}

/// Prints a figure, its anchor and their ratio on one line.
func report(_ name: String, _ value: Double, unit: String, anchor: Double? = nil, anchorName: String = "", target: String = "") {
    var line = "\(name): \(String(format: "%.3f", value)) \(unit)"
    if let anchor {
        line += "  | anchor \(anchorName): \(String(format: "%.3f", anchor)) \(unit)  | ratio \(String(format: "%.3f", value / anchor))"
    }
    if !target.isEmpty { line += "  | target \(target)" }
    print(line)
}

/// Runs a whole host of one pipeline, on a SQLite store in the configuration's data folder,
/// until every job of `specs` has ended, then shuts it down gracefully. Returns the host (its
/// statistics), the jobs as they ended, the seconds from the submission to the last end, and
/// the slots as they were then.
func runToTheEnd(
    _ specs: [JobSpec], pipeline: PipelineDefinition, configuration: SchedulerConfiguration
) async throws -> (host: SpoolHost, jobs: [Job], makespan: Double, slots: [SlotReport]) {
    let store = try SQLiteJobStore(path: "\(configuration.data.root)/spool.sqlite")
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let host = try SpoolHost(store: store, pipelines: PipelineCatalog([pipeline]), configuration: configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: host.services().map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    let start = ContinuousClock.now
    let submitted = try await host.submitter.submitAll(specs).map(\.job.id)
    var finished: [Job] = []
    for id in submitted {
        while true {
            if let job = try await store.job(id), job.state.isFinal {
                finished.append(job)
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
    let makespan = elapsed(since: start)
    let slots = await host.dispatcher.slotReports
    await group.triggerGracefulShutdown()
    try await running.value
    return (host, finished, makespan, slots)
}

func elapsed(since start: ContinuousClock.Instant) -> Double {
    let (s, a) = (ContinuousClock.now - start).components
    return Double(s) + Double(a) / 1e18
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}
