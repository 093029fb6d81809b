import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SpoolCore
import SpoolServer
import SpoolTesting
import Testing

/// `GET /v1/jobs/{id}` answered in the channel pipeline (SQLite store) against the router's
/// own answer, through real servers on loopback and a raw socket.
@Suite("Job polls answered in the pipeline", .serialized)
struct JobPollHandlerTests {
    /// Runs `body` with the port of a live server over `host`.
    func withServer(
        _ host: TestHost, inPipeline: Bool, token: String? = nil, _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try SpoolHTTPServer.make(
            host: host.host, metrics: SpoolMetrics(host: host.host),
            configuration: HTTPServerConfiguration(port: 0, token: token, answersPollsInPipeline: inPipeline), logger: logger)
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    /// A host with one 8-frame job, and `body` run against a server answering polls in the pipeline.
    func withPolledJob(token: String? = nil, _ body: @Sendable (_ port: Int, _ job: JobID) async throws -> Void) async throws {
        let host = try await TestHost(slots: 1, frameCostMilliseconds: 2)
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 8).id
        try await withServer(host, inPipeline: true, token: token) { port in try await body(port, job) }
    }

    /// One GET on a connection of its own, read on a thread of its own: a blocking read on one
    /// of the few threads Swift's concurrency has would starve the server in this process.
    func get(_ port: Int, _ path: String, headers: String = "") async throws -> RawHTTPConnection.Answer {
        try await onThread { try RawHTTPConnection(port: port).get(path, headers: headers) }
    }

    @Test func theAnswerIsTheRoutersByteForByte() async throws {
        // A job held at its gate keeps the only slot, so the job behind it stays queued.
        let gate = try WorkerGate()
        let host = try await TestHost(slots: 1, pipelines: [Fixtures.synthetic(name: "gated", gate: gate)])
        defer {
            gate.open()
            Task { await host.stop() }
        }
        // A finished job, a queued one behind a long one (so it has a queue position), and ids
        // that exist nowhere or that the router must decode.
        let done = try await host.submit(frames: 8).id
        try await host.wait(for: done, state: .succeeded)
        try await host.submit(frames: 8, pipeline: "gated")
        let queued = try await host.submit(frames: 8).id
        let paths = [
            "/v1/jobs/\(done)", "/v1/jobs/\(queued)", "/v1/jobs/\(queued)?fields=all", "/v1/jobs/no-such-job",
            "/v1/jobs/a%20b", "/v1/jobs/\(done)/", "/healthz",
        ]
        try await withServer(host, inPipeline: true) { pipelinePort in
            try await withServer(host, inPipeline: false) { routerPort in
                for path in paths {
                    let fast = try await get(pipelinePort, path)
                    let routed = try await get(routerPort, path)
                    #expect(fast.status == routed.status, "\(path)")
                    #expect(fast.headers.map(\.name) == routed.headers.map(\.name), "\(path)")
                    for (name, value) in routed.headers where name != "Date" {
                        #expect(fast.header(name) == value, "\(path): \(name)")
                    }
                    #expect(fast.body == routed.body, "\(path)")
                    let date = try #require(fast.header("Date"))
                    #expect(date.range(of: #"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"#, options: .regularExpression) != nil, "\(date)")
                }
                let queuedAnswer = try await get(pipelinePort, "/v1/jobs/\(queued)")
                let resource = try JSONSerialization.jsonObject(with: Data(queuedAnswer.body)) as? [String: Any]
                #expect(resource?["state"] as? String == "queued")
                #expect(resource?["queuePosition"] as? Int == 1)
            }
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withPolledJob { port, job in
            // A poll, then a submission the router answers (a store write, so it finishes
            // later), then polls that could be answered at once but must wait their turn,
            // one of them for a job that does not exist.
            let submission = #"{"prompt":"a pipelined fox","frames":8}"#
            let answers = try await onThread {
                let connection = try RawHTTPConnection(port: port)
                try connection.send(
                    "GET /v1/jobs/\(job) HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(submission.utf8.count)\r\n\r\n\(submission)"
                        + "GET /v1/jobs/\(job) HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET /v1/jobs/missing HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET /v1/jobs/\(job)?again HTTP/1.1\r\nHost: x\r\n\r\n")
                return try (0..<5).map { _ in try connection.answer() }
            }
            var statuses: [Int] = []
            var ids: [String] = []
            for answer in answers {
                let answer = try #require(answer)
                statuses.append(answer.status)
                let object = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
                ids.append(object?["id"] as? String ?? object?["error"].map { _ in "error" } ?? "?")
            }
            #expect(statuses == [200, 201, 200, 404, 200])
            #expect(ids[0] == job.rawValue && ids[2] == job.rawValue && ids[4] == job.rawValue)
            #expect(ids[1] != job.rawValue && ids[3] == "error")
        }
    }

    @Test func aPollWithoutTheTokenGetsTheRoutersRefusal() async throws {
        try await withPolledJob(token: "s3cret") { port, job in
            let missing = try await get(port, "/v1/jobs/\(job)")
            let wrong = try await get(port, "/v1/jobs/\(job)", headers: "Authorization: Bearer wrong\r\n")
            let right = try await get(port, "/v1/jobs/\(job)", headers: "Authorization: Bearer s3cret\r\n")
            #expect(missing.status == 401 && missing.header("WWW-Authenticate") == "Bearer")
            #expect(wrong.status == 401)
            #expect(right.status == 200)
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await withPolledJob { port, job in
            let (first, afterClose) = try await onThread {
                let connection = try RawHTTPConnection(port: port)
                try connection.send("GET /v1/jobs/\(job) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return (try connection.answer(), try connection.answer())
            }
            #expect(first?.status == 200)
            #expect(afterClose == nil)
        }
    }
}
