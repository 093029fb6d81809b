import ArgumentParser
import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting

/// A shared queue's outage, on two real `spool serve` hosts and a PostgreSQL server of the
/// benchmark's own, crashed (`pg_ctl -m immediate`) while both run jobs and started again
/// once both have fenced their attempts: from the moment the database accepts connections
/// again until every host has claimed a job, against a fresh host's start to its first
/// claim on the same database (issue 27).
struct OutageBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outage", abstract: "A shared queue's database crashes and returns: until every host claims again.")

    @Option(help: "--lease-seconds of the hosts.") var lease = 5.0
    @Option(help: "--heartbeat-seconds of the hosts.") var heartbeat = 0.5
    @Option(help: "Frames a job.") var frames = 132
    @Option(help: "Generation time a frame, in milliseconds.") var frameCost = 10.0
    @Option(help: "Seconds the database stays down at least (it returns once both hosts have fenced, and not before).") var down = 0.0

    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Pipelines").path

    func host(_ name: String, _ server: PrivatePostgresServer, _ dir: TemporaryDirectory) throws -> DaemonProcess {
        try DaemonProcess(
            arguments: [
                "--store", server.url, "--host", name, "--data", dir.file(name), "--videos", dir.file("videos"),
                "--gpus", "none", "--virtual-slots", "1", "--pipelines", Self.pipelines, "--no-drop-folder",
                "--listen", "127.0.0.1:0", "--preset", "ultrafast",
                "--lease-seconds", String(lease), "--heartbeat-seconds", String(heartbeat),
            ],
            log: dir.file("\(name).log"),
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": String(frameCost), "SPOOL_SYNTHETIC_STEPS": "1"])
    }

    static let claimed = "[SpoolScheduler] started"

    func run() async throws {
        print("== Outage: two hosts on one PostgreSQL queue (lease \(lease) s, heartbeat \(heartbeat) s); the database crashes mid-run and returns ==")
        let server = try PrivatePostgresServer()
        defer { server.remove() }
        let dir = try TemporaryDirectory("bench-outage")
        defer { dir.remove() }
        let hosts = try ["a", "b"].map { try host($0, server, dir) }
        defer { for host in hosts { host.stop() } }
        for host in hosts { try await host.waitForLog("dispatching", timeout: 60) }
        let client = SpoolClient(server: URL(string: try await hosts[0].httpURL())!)
        var ids: [String] = []
        for n in 0..<16 { ids.append(try await client.submit(JobSpec(prompt: "outage \(n)", frames: frames, width: 64, height: 48, seed: UInt64(n))).job.id) }
        try await until("both hosts run a job", timeout: 120) {
            Set(try await client.list(states: [.running]).jobs.compactMap(\.host)) == ["a", "b"]
        }
        try server.crash()
        let crashed = ContinuousClock.now
        for host in hosts { try await host.waitForLog("stopped an attempt whose lease ran out", timeout: 120) }
        let left = down - (ContinuousClock.now - crashed).seconds
        if left > 0 { try await Task.sleep(for: .seconds(left)) }
        let offsets = hosts.map { $0.output.utf8.count }
        try server.start()
        let back = ContinuousClock.now
        var claimedAfter: [Double?] = [nil, nil]
        try await until("every host claims again", timeout: 120) {
            for (index, host) in hosts.enumerated() where claimedAfter[index] == nil {
                let output = host.output
                if String(output.utf8.dropFirst(offsets[index]))?.contains(Self.claimed) == true {
                    claimedAfter[index] = (ContinuousClock.now - back).seconds
                }
            }
            return claimedAfter.allSatisfy { $0 != nil }
        }
        let reclaimed = claimedAfter.compactMap { $0 }.max() ?? 0

        // The anchor: a host started now, on the same database, to its first claim.
        let spawned = ContinuousClock.now
        let fresh = try host("c", server, dir)
        defer { fresh.stop() }
        try await until("the fresh host claims a job", timeout: 120) { fresh.output.contains(Self.claimed) }
        let freshClaim = (ContinuousClock.now - spawned).seconds

        report("after the database returns: until every host claims again", reclaimed, unit: "s", anchor: freshClaim,
               anchorName: "a fresh host's start to its first claim", target: "ratio about 1: back from an outage, a host claims as soon as a new one would")
        print(String(format: "  host a %.3f s, host b %.3f s", claimedAfter[0] ?? 0, claimedAfter[1] ?? 0))
        try await until("every job has ended", timeout: 600) {
            try await client.list(limit: 100).jobs.filter { ids.contains($0.id) }.allSatisfy(\.state.isFinal)
        }
        let jobs = try await client.list(limit: 100).jobs.filter { ids.contains($0.id) }
        let videos = try FileManager.default.contentsOfDirectory(atPath: dir.file("videos")).filter { $0.hasSuffix(".mp4") }
        print("  \(jobs.filter { $0.state == .succeeded }.count)/\(jobs.count) jobs succeeded; \(videos.count) videos; attempts \(jobs.map(\.attempts).reduce(0, +)), of which spared \(jobs.map(\.sparedAttempts).reduce(0, +))")
        for job in jobs where job.attempts > 1 {
            let attempts = try await client.attempts(job.id).attempts
            print("  \(job.id): " + attempts.map { "\($0.host) \($0.outcome.rawValue)\($0.error.map { ": " + $0 } ?? "")" }.joined(separator: "; "))
        }
    }
}
