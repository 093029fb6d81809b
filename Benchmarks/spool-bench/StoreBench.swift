import ArgumentParser
import Foundation
import SpoolCore
import SpoolSQLite

/// SQLite store throughput with durable (synchronous=FULL) commits on this machine's disk.
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "SQLite store throughput.")

    @Option(help: "Jobs to enqueue.") var jobs = 20_000
    @Option(help: "Concurrent submitters.") var submitters = 64
    @Option(help: "Concurrent claimers.") var claimers = 8
    @Option(help: "Folder for the database (its disk is what is measured).") var folder = FileManager.default.currentDirectoryPath + "/.build"

    func run() async throws {
        print("== SQLite store (WAL, synchronous=FULL, group commit) ==")
        let dir = "\(folder)/spool-bench-store-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // Anchor: what the disk allows one-commit-per-fsync.
        let fsyncs = fsyncRate(path: dir + "/fsync-probe", count: 500)
        report("fsync rate (one durable commit per call, the ceiling without group commit)", fsyncs, unit: "/s")

        let store = try SQLiteJobStore(path: dir + "/bench.sqlite")
        let spec = JobSpec(prompt: "a bench", frames: 48, width: 64, height: 48, seed: 1, pipeline: "synthetic")
        let perSubmitter = jobs / submitters
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<submitters {
                group.addTask {
                    for _ in 0..<perSubmitter {
                        _ = try await store.enqueue(EnqueueRequest(spec: spec, maxAttempts: 3, submittedAt: Date()))
                    }
                }
            }
            try await group.waitForAll()
        }
        let enqueueSeconds = elapsed(since: start)
        let enqueued = perSubmitter * submitters
        report("enqueue, \(submitters) concurrent submitters, one call per job", Double(enqueued) / enqueueSeconds,
               unit: "/s", anchor: fsyncs, anchorName: "fsync rate", target: ">= 5000/s")

        let cycleStart = ContinuousClock.now
        let cycles = try await withThrowingTaskGroup(of: Int.self) { group in
            for claimer in 0..<claimers {
                group.addTask {
                    var done = 0
                    while let job = try await store.claimNext(ClaimRequest(
                        host: "bench", gpu: "gpu\(claimer)", pipelines: ["synthetic"], now: Date(),
                        leaseUntil: Date().addingTimeInterval(30))) {
                        try await store.update(job.id, to: .encoding, JobUpdate(
                            attempt: job.attempts, at: Date(), generatedAt: Date(), endAttempt: .generated, attemptGPUSeconds: 1))
                        try await store.update(job.id, to: .succeeded, JobUpdate(attempt: job.attempts, at: Date(), encodedAt: Date()))
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let cycleSeconds = elapsed(since: cycleStart)
        report("claim-and-complete cycles (claim, ->encoding, ->succeeded), \(claimers) claimers",
               Double(cycles) / cycleSeconds, unit: "/s", anchor: fsyncs / 3, anchorName: "fsync rate / 3 commits",
               target: ">= 2000/s")
        let counts = try await store.countsByState()
        precondition(counts[.succeeded] == enqueued && cycles == enqueued, "every job completed exactly once")
        print("checked: \(enqueued) jobs enqueued, each claimed and completed exactly once")
    }

    func fsyncRate(path: String, count: Int) -> Double {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer {
            close(fd)
            unlink(path)
        }
        var bytes = [UInt8](repeating: 1, count: 128)
        let start = ContinuousClock.now
        for _ in 0..<count {
            _ = write(fd, &bytes, bytes.count)
            fsync(fd)
        }
        return Double(count) / elapsed(since: start)
    }
}
