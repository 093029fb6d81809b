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

    /// With `silentWorkers`, every worker hangs at its start without a word: orphaned by a
    /// killed daemon, it would die of SIGPIPE at its next write, so one that never writes can
    /// only be ended by the restarted daemon's reaper.
    func startDaemon(data: String, log: String, silentWorkers: Bool = false) throws -> DaemonProcess {
        try DaemonProcess(
            arguments: [
                "--data", data, "--gpus", "none", "--virtual-slots", "2", "--pipelines", Self.pipelines,
                "--host", "daemon-test", "--heartbeat-seconds", "0.2", "--preset", "ultrafast", "--log-level", "debug",
                "--listen", "127.0.0.1:0",
            ],
            log: log,
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "1", "SPOOL_SYNTHETIC_STEPS": "1"]
                .merging(silentWorkers ? ["SPOOL_SYNTHETIC_FAULTS": "hang"] : [:]) { $1 })
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

        let first = try startDaemon(data: data, log: dir.file("daemon.log"), silentWorkers: true)
        defer { first.stop(timeout: 1) }
        // Kill it while both jobs are generating (their workers hang, silent, at their start).
        let deadline = Date().addingTimeInterval(30)
        while try await store.list(JobQuery(states: [.running])).jobs.count < 2 {
            let log = (try? String(contentsOfFile: dir.file("daemon.log"), encoding: .utf8)) ?? ""
            try #require(Date() < deadline, "no job started: \(log)")
            try await Task.sleep(for: .milliseconds(20))
        }
        // "running" is stored when a job is claimed, before its worker is spawned: wait for
        // both workers (a loaded machine can take longer than any fixed pause).
        while processesWorking(in: data + "/work").count < 2 || recordedGroups(in: data + "/work") < 2 {
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
        // …until the restarted daemon reaps them: silent, nothing else ends them.
        try await until("the orphaned workers \(orphans) are reaped") {
            Set(orphans).isDisjoint(with: processesWorking(in: data + "/work"))
        }
        try await second.waitForLog("killed workers left running by a previous run")
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

    /// Process groups recorded for the reaper under `folder` (the daemon writes each as it
    /// spawns the worker: there is a moment, however short, when a worker runs unrecorded).
    func recordedGroups(in folder: String) -> Int {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var count = 0
        while let path = enumerator?.nextObject() as? String { if path.hasSuffix(".pgid") { count += 1 } }
        return count
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
        // SIGTERM only once the service group runs (it traps the signals before it starts any
        // service): before that the default action kills it.
        try await daemon.waitForLog("HTTP API on")
        try await daemon.waitForLog("dispatching")
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
