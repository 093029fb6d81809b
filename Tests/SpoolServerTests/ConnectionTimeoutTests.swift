import Foundation
import HummingbirdTesting
import Logging
import SpoolCore
import SpoolServer
import SpoolTesting
import Testing

/// Connections that say nothing are closed; streams that have something to say are not.
@Suite("Connection timeouts", .serialized)
struct ConnectionTimeoutTests {
    /// A live server over a host whose `gated` jobs wait at `gate`, with short timeouts.
    func withServer(gate: WorkerGate, _ body: @Sendable (TestHost, Int) async throws -> Void) async throws {
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.synthetic(name: "gated", gate: gate, gateFromChunk: 1)])
        defer { Task { await host.stop() } }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try SpoolHTTPServer.make(
            host: host.host, metrics: SpoolMetrics(host: host.host),
            configuration: HTTPServerConfiguration(port: 0, requestHeadTimeout: 0.5, keepAliveTimeout: 0.5), logger: logger)
        try await app.test(.live) { client in try await body(host, try #require(client.port)) }
    }

    @Test func halfSentRequestsAndIdleConnectionsAreClosedWhileTheServerAnswersThroughout() async throws {
        let gate = try WorkerGate()
        try await withServer(gate: gate) { _, port in
            // Half a request line each, never finished.
            let silent = try (0..<200).map { _ in
                let connection = try RawHTTPConnection(port: port)
                try connection.send("GET /v1/jo")
                return connection
            }
            // One that asked once and then kept quiet. (Reads on threads of their own: the
            // server runs in this process.)
            let idle = try RawHTTPConnection(port: port)
            #expect(try await onThread { try idle.get("/healthz") }.status == 200)
            // The server answers new connections meanwhile.
            #expect(try await onThread { try RawHTTPConnection(port: port).get("/healthz") }.status == 200)
            try await until("every half-sent request's connection is closed") { silent.allSatisfy(\.isClosedByServer) }
            try await until("the idle keep-alive connection is closed") { idle.isClosedByServer }
            #expect(try await onThread { try RawHTTPConnection(port: port).get("/healthz") }.status == 200)
        }
    }

    @Test func anEventStreamOutlivesTheTimeoutsWhileItsJobRuns() async throws {
        let gate = try WorkerGate()
        try await withServer(gate: gate) { host, port in
            let job = try await host.submit(frames: 24, pipeline: "gated")
            try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }
            let stream = try await onThread { try EventStreamClient(port: port, path: "/v1/jobs/\(job.id)/events") }
            let first = try #require(try await onThread { try stream.next() })
            #expect(first.name == "state")
            // Opened after the stream: once the server has closed it, a timeout has passed for
            // the stream too.
            let witness = try RawHTTPConnection(port: port)
            try witness.send("GET /v1/jo")
            try await until("the witness is closed") { witness.isClosedByServer }
            gate.open()
            let rest = try await onThread { try stream.rest() }
            #expect(rest.last?.name == "state" && rest.last?.json["state"] as? String == "succeeded", "\(rest.map(\.name))")
        }
    }
}
