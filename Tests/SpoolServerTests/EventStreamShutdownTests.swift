import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// Event streams end by themselves: a client that has gone is found by the keep-alive
/// comment and its connection closed, and SIGTERM ends every open stream with a last event
/// and the process within its bound (issue 34). Real daemon, real clients (one a `curl`
/// process killed with SIGKILL).
@Suite("Event streams and shutdown", .serialized, .enabled(if: MediaProbe.toolsAvailable))
struct EventStreamShutdownTests {
    /// The `spool_event_streams_open` gauge from `/metrics`.
    static func openStreams(_ base: String) async throws -> Int? {
        let (data, _) = try await URLSession.shared.data(from: URL(string: base + "/metrics")!)
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("spool_event_streams_open ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") }
    }

    @Test func aGoneClientsStreamIsClosedAndSIGTERMEndsTheOpenOnesAndTheProcess() async throws {
        let dir = try TemporaryDirectory("streams")
        defer { dir.remove() }
        let gate = try WorkerGate()
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: ConditioningTests.pipelines, ["--event-keep-alive", "0.2", "--shutdown-grace", "1"],
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0", "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)])
        defer { daemon.stop() }
        let base = try await daemon.httpURL()
        let port = try await daemon.httpPort()
        let client = SpoolClient(server: URL(string: base)!)
        // One slot: the first job runs (held at the gate), the second waits behind it and has
        // nothing to say for as long as it waits.
        let running = try await client.submit(JobSpec(prompt: "a fox", frames: 66, width: 64, height: 64)).job
        try await until("the first job runs") { try await client.job(running.id).state == .running }
        let queued = try await client.submit(JobSpec(prompt: "a hare", frames: 66, width: 64, height: 64)).job
        #expect(try await client.job(queued.id).state == .queued)

        // The queued job's follower is another process, killed as a crash would kill it.
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = ["curl", "-sN", "-o", dir.file("curl.out"), "\(base)/v1/jobs/\(queued.id)/events"]
        try curl.run()
        defer { if curl.isRunning { kill(curl.processIdentifier, SIGKILL) } }
        let follower = try await onThread { try EventStreamClient(port: port, path: "/v1/jobs/\(running.id)/events") }
        #expect(follower.status == 200)
        try await until("both streams are open") { try await Self.openStreams(base) == 2 }
        try await until("curl has its stream's first event") {
            ((try? String(contentsOfFile: dir.file("curl.out"), encoding: .utf8)) ?? "").contains("event: state")
        }
        kill(curl.processIdentifier, SIGKILL)
        curl.waitUntilExit()
        // Nothing happens to the queued job; the keep-alive write is what finds the dead peer.
        try await until("the dead client's stream is closed") { try await Self.openStreams(base) == 1 }
        #expect(try await client.job(queued.id).state == .queued)

        // SIGTERM: the running job is drained (requeued after its grace), then the open stream
        // gets its last event and ends, and the process exits by itself.
        let events = Task { try await onThread { try follower.rest() } }
        daemon.send(SIGTERM)
        let rest = try await events.value
        #expect(rest.last?.name == "shutdown", "\(rest.map(\.name)): \(daemon.output.suffix(4_000))")
        #expect(rest.last?.json["job"] as? String == running.id)
        #expect(follower.keepAlives > 0, "the open stream had keep-alive comments while the job was held")
        #expect(daemon.stop(timeout: 60), "the daemon exits on SIGTERM: \(daemon.output.suffix(3_000))")
        gate.open()
    }
}
