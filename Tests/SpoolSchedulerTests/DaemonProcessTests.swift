import Foundation
import SpoolCore
import SpoolSQLite
import SpoolTesting
import Testing

/// The real `spool serve` binary, killed with SIGKILL mid-job and started again.
@Suite("Daemon process", .serialized)
struct DaemonProcessTests {
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines").path

    func startDaemon(data: String, log: String) throws -> DaemonProcess {
        // Quiet workers: one event a chunk, 2 s a chunk. An orphaned worker dies of SIGPIPE
        // at its next write anyway; these stay silent long enough that only the restarted
        // daemon's reaping can end them before the deadline below.
        try DaemonProcess(
            arguments: [
                "--data", data, "--gpus", "none", "--virtual-slots", "2", "--pipelines", Self.pipelines,
                "--host", "daemon-test", "--heartbeat-seconds", "0.2", "--preset", "ultrafast", "--log-level", "debug",
                "--listen", "127.0.0.1:0",
            ],
            log: log, environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "60", "SPOOL_SYNTHETIC_STEPS": "1"])
    }

    @Test func killDashNineThenRestartFinishesEveryJobExactlyOnce() async throws {
        let dir = try TemporaryDirectory("daemon")
        defer { dir.remove() }
        let data = dir.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        // Jobs go into the store directly; SQLite is shared safely between processes.
        let store = try SQLiteJobStore(path: data + "/spool.sqlite")
        let catalog = try PipelineCatalog.load(folder: Self.pipelines)
        var ids: [JobID] = []
        for n in 0..<2 {
            let spec = JobSpec(prompt: "job \(n)", frames: 40, width: 64, height: 48, seed: UInt64(n))
                .resolved(pipeline: catalog["synthetic"]!, seed: 0)
            ids.append(try await store.enqueue(EnqueueRequest(spec: spec, maxAttempts: 3, submittedAt: Date())).job.id)
        }

        let first = try startDaemon(data: data, log: dir.file("daemon.log"))
        defer { first.stop(timeout: 1) }
        // Kill it while both jobs are generating, before their first chunk.
        let deadline = Date().addingTimeInterval(30)
        while try await store.list(JobQuery(states: [.running])).jobs.count < 2 {
            let log = (try? String(contentsOfFile: dir.file("daemon.log"), encoding: .utf8)) ?? ""
            try #require(Date() < deadline, "no job started: \(log)")
            try await Task.sleep(for: .milliseconds(20))
        }
        // "running" is stored when a job is claimed, before its worker is spawned: wait for
        // both workers (a loaded machine can take longer than any fixed pause).
        while processesWorking(in: data + "/work").count < 2 {
            try #require(Date() < deadline, "the workers never started")
            try await Task.sleep(for: .milliseconds(20))
        }
        first.kill9()
        let lost = try await store.list(JobQuery(states: [.running, .encoding])).jobs
        #expect(lost.count == 2)
        // The workers, in their own process groups, outlive the daemon…
        let orphans = processesWorking(in: data + "/work")
        #expect(!orphans.isEmpty)

        let second = try startDaemon(data: data, log: dir.file("daemon.log"))
        defer { #expect(second.stop(), "the daemon ignored SIGTERM") }
        // …until the restarted daemon reaps them, before it runs anything.
        let reapDeadline = Date().addingTimeInterval(1.2)
        while !Set(orphans).isDisjoint(with: processesWorking(in: data + "/work")) {
            try #require(Date() < reapDeadline, "orphaned workers \(orphans) were not reaped")
            try await Task.sleep(for: .milliseconds(20))
        }
        for id in ids {
            let done = try await waitForFinal(id, store: store, log: dir.file("daemon.log"))
            #expect(done.state == .succeeded, "\(id): \(done.error ?? "")")
            let attempts = try await store.attempts(of: id)
            #expect(attempts.filter { $0.outcome == .generated }.count == 1, "each job generated exactly once")
            // Attempts never overlapped: each started after the one before it ended.
            for (a, b) in zip(attempts, attempts.dropFirst()) {
                #expect(a.endedAt != nil && a.endedAt! <= b.startedAt)
            }
            #expect(try MediaProbe(path: done.outputPath!).frames == 40)
        }
        for job in lost {
            let attempts = try await store.attempts(of: job.id)
            #expect(attempts.first?.outcome == .lost)
            #expect(attempts.first?.error?.contains("host daemon-test restarted") == true)
        }
    }

    /// Live processes whose working directory is inside `folder`.
    func processesWorking(in folder: String) -> [Int32] {
        let target = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        return pids.filter { pid in
            guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"),
                  cwd.hasPrefix(target + "/") else { return false }
            return processState(pid) != "Z"
        }
    }

    func waitForFinal(_ id: JobID, store: SQLiteJobStore, log: String) async throws -> Job {
        let deadline = Date().addingTimeInterval(60)
        while true {
            if let job = try await store.job(id), job.state.isFinal { return job }
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            try #require(Date() < deadline, "job \(id) did not finish: \(text.suffix(3_000))")
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func sigtermStopsTheDaemonCleanly() async throws {
        let dir = try TemporaryDirectory("daemon")
        defer { dir.remove() }
        let daemon = try startDaemon(data: dir.file("data"), log: dir.file("daemon.log"))
        // SIGTERM only once every service runs: before that the default action kills it.
        try await daemon.waitForLog("HTTP API on")
        try await daemon.waitForLog("dispatching")
        try await Task.sleep(for: .milliseconds(100))
        #expect(daemon.stop(timeout: 10), "the daemon ignored SIGTERM")
        #expect(daemon.process.terminationStatus == 0)
        let log = try String(contentsOfFile: dir.file("daemon.log"), encoding: .utf8)
        #expect(log.contains("dispatcher stopped"))
        #expect(log.contains("HTTP API on"), "the whole daemon, doors included, started and stopped")
        // The daemon's tasks share the HTTP server's event loops: the hook that allows it
        // is the Swift runtime's, and this catches a toolchain that stops offering it.
        #expect(log.contains("tasks run on the HTTP server's event loops"))
    }
}
