import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SpoolCore
import SpoolScheduler
import SpoolSQLite
import SpoolServer
import SpoolTesting
import Testing

/// The real HTTP server on loopback, over a real host running synthetic jobs.
@Suite("HTTP API", .serialized)
struct HTTPAPITests {
    static let token = "s3cret-token"

    /// Runs `body` against a live server; `token` turns authentication on.
    func withServer(
        token: String? = nil, maxBodyBytes: Int = 64 * 1024, gate: WorkerGate? = nil, pipelines: [PipelineDefinition] = [],
        _ body: @Sendable (TestHost, any TestClientProtocol) async throws -> Void
    ) async throws {
        // `gated`: jobs of this pipeline hold the slot until the test opens the gate.
        let host = try await TestHost(slots: 1, pipelines: (gate.map { [Fixtures.synthetic(name: "gated", gate: $0)] } ?? []) + pipelines)
        let metrics = SpoolMetrics(host: host.host)
        let metricsTask = Task { try await metrics.run() }
        defer {
            metricsTask.cancel()
            Task { await host.stop() }
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try SpoolHTTPServer.make(
            host: host.host, metrics: metrics,
            configuration: {
                var configuration = HTTPServerConfiguration(port: 0, token: token, maxBodyBytes: maxBodyBytes)
                // The test client gives up on a connection silent for 15 s: an event stream
                // whose job is slow under a full suite's load says it is alive well before.
                configuration.eventKeepAlive = 2
                return configuration
            }(), logger: logger)
        try await app.test(.live) { client in try await body(host, client) }
    }

    func auth(_ headers: HTTPFields = [:]) -> HTTPFields {
        var headers = headers
        headers[.authorization] = "Bearer \(Self.token)"
        return headers
    }

    func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] ?? [:]
    }

    func submit(_ client: some TestClientProtocol, _ body: String, headers: HTTPFields = [:]) async throws -> (HTTPResponse.Status, [String: Any], HTTPFields) {
        try await client.execute(uri: "/v1/jobs", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            (response.status, try json(response.body), response.headers)
        }
    }

    func waitForState(_ client: some TestClientProtocol, _ id: String, _ state: String, headers: HTTPFields = [:]) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(30)
        while true {
            let job = try await client.execute(uri: "/v1/jobs/\(id)", method: .get, headers: headers) { try json($0.body) }
            if job["state"] as? String == state { return job }
            try #require(Date() < deadline, "job \(id) never reached \(state): \(job)")
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func aRetriedJobsAttemptsSayWhyItWasRetried() async throws {
        let flaky = Fixtures.synthetic(name: "flaky", arguments: ["--fault", "fail-attempts-below:2"])
        try await withServer(pipelines: [flaky]) { host, client in
            let (status, job, _) = try await submit(client, #"{"prompt": "a fox", "frames": 16, "pipeline": "flaky"}"#)
            #expect(status == .created)
            let id = try #require(job["id"] as? String)
            _ = try await waitForState(client, id, "succeeded")
            let (code, list) = try await client.execute(uri: "/v1/jobs/\(id)/attempts", method: .get) { ($0.status, try json($0.body)) }
            #expect(code == .ok)
            #expect(list["job"] as? String == id)
            let attempts = try #require(list["attempts"] as? [[String: Any]])
            #expect(attempts.map { $0["number"] as? Int } == [1, 2])
            #expect(attempts.map { $0["outcome"] as? String } == ["failed", "generated"])
            let error = try #require(attempts.first?["error"] as? String)
            #expect(error.contains("attempt 1 of 3 failed") && error.contains("exited with status 4"), "\(error)")
            #expect(attempts.last?["error"] == nil)
            for attempt in attempts {
                #expect(attempt["gpu"] as? String == "virtual0" && (attempt["host"] as? String)?.isEmpty == false)
                #expect(attempt["startedAt"] is String && attempt["endedAt"] is String && (attempt["gpuSeconds"] as? Double) != nil)
            }
            let unknown = try await client.execute(uri: "/v1/jobs/no-such-job/attempts", method: .get) { $0.status }
            #expect(unknown == .notFound)
        }
    }

    @Test func submitPollAndDownloadAVideo() async throws {
        try await withServer { host, client in
            let (status, job, headers) = try await submit(client, #"{"prompt": "a fox", "frames": 30, "outputName": "fox"}"#)
            #expect(status == .created)
            let id = try #require(job["id"] as? String)
            #expect(headers[.location] == "/v1/jobs/\(id)")
            #expect(job["state"] as? String == "queued")
            #expect((job["spec"] as? [String: Any])?["width"] as? Int == 64)

            let done = try await waitForState(client, id, "succeeded")
            let progress = try #require(done["progress"] as? [String: Any])
            #expect(progress["framesDone"] as? Int == 30 && progress["percent"] as? Double == 100)
            let timings = try #require(done["timings"] as? [String: Any])
            for key in ["queueWait", "timeToFirstChunk", "generationTime", "encodeTail", "totalLatency", "submittedAt", "finishedAt"] {
                #expect(timings[key] != nil, "timing \(key)")
            }
            #expect((done["gpuSeconds"] as? Double ?? 0) > 0)
            #expect(done["gpu"] as? String == "virtual0")
            #expect(done["videoURL"] as? String == "/v1/jobs/\(id)/video")

            let path = try #require(try await host.store.job(JobID(id))?.outputPath)
            let file = try Data(contentsOf: URL(fileURLWithPath: path))
            try await client.execute(uri: "/v1/jobs/\(id)/video", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "video/mp4")
                #expect(response.headers[.acceptRanges] == "bytes")
                #expect(response.headers[.contentDisposition] == "inline; filename=\"fox.mp4\"")
                #expect(Data(response.body.readableBytesView) == file)
            }
            try await client.execute(uri: "/v1/jobs/\(id)/video", method: .get, headers: [.range: "bytes=100-199"]) { response in
                #expect(response.status == .partialContent)
                #expect(response.headers[.contentRange] == "bytes 100-199/\(file.count)")
                #expect(Data(response.body.readableBytesView) == file[100..<200])
            }
            try await client.execute(uri: "/v1/jobs/\(id)/video", method: .get, headers: [.range: "bytes=-10"]) { response in
                #expect(response.status == .partialContent)
                #expect(Data(response.body.readableBytesView) == file.suffix(10))
            }
            try await client.execute(uri: "/v1/jobs/\(id)/video", method: .get, headers: [.range: "bytes=\(file.count)-"]) { response in
                #expect(response.status == .rangeNotSatisfiable)
                #expect(response.headers[.contentRange] == "bytes */\(file.count)")
            }
            try await client.execute(uri: "/v1/jobs/\(id)/poster", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "image/png")
            }
        }
    }

    @Test func anIdempotencyKeyReturnsTheExistingJob() async throws {
        try await withServer { _, client in
            let body = #"{"prompt": "a fox", "frames": 8}"#
            let (first, job, _) = try await submit(client, body, headers: [HTTPField.Name("Idempotency-Key")!: "k-1"])
            let (second, again, _) = try await submit(client, body, headers: [HTTPField.Name("Idempotency-Key")!: "k-1"])
            #expect(first == .created && second == .ok)
            #expect(job["id"] as? String == again["id"] as? String)
        }
    }

    @Test func badRequestsGetClearJSONErrors() async throws {
        try await withServer(maxBodyBytes: 1_024) { _, client in
            let (status, body, _) = try await submit(client, "{not json")
            #expect(status == .badRequest)
            #expect((body["error"] as? [String: Any])?["code"] as? String == "invalid_json")

            let (missing, missingBody, _) = try await submit(client, #"{"frames": 8}"#)
            #expect(missing == .badRequest)
            #expect(((missingBody["error"] as? [String: Any])?["message"] as? String)?.contains("missing field \"prompt\"") == true)

            let (invalid, invalidBody, _) = try await submit(
                client, #"{"prompt": "", "frames": 1441, "width": 641, "height": 384, "outputName": "../x", "pipeline": "nope"}"#)
            #expect(invalid == .unprocessableContent)
            let error = try #require(invalidBody["error"] as? [String: Any])
            #expect(error["code"] as? String == "invalid_job")
            let fields = Set((error["issues"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["prompt", "frames", "width", "outputName", "pipeline"])

            let (tooLarge, tooLargeBody, _) = try await submit(client, #"{"prompt": "\#(String(repeating: "a", count: 2_000))", "frames": 8}"#)
            #expect(tooLarge == .contentTooLarge)
            #expect((tooLargeBody["error"] as? [String: Any])?["code"] as? String == "body_too_large")

            try await client.execute(uri: "/v1/jobs/nope", method: .get) { response in
                #expect(response.status == .notFound)
                let code = (try json(response.body)["error"] as? [String: Any])?["code"] as? String
                #expect(code == "job_not_found")
            }
            try await client.execute(uri: "/v1/jobs?state=bogus", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/jobs?limit=0", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/jobs/nope", method: .delete) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func listingFiltersAndPages() async throws {
        let gate = try WorkerGate()
        try await withServer(gate: gate) { _, client in
            var ids: [String] = []
            for _ in 0..<5 {
                ids.append(try await submit(client, #"{"prompt": "a fox", "frames": 40, "pipeline": "gated"}"#).1["id"] as! String)
            }
            let first = try await client.execute(uri: "/v1/jobs?limit=2", method: .get) { try json($0.body) }
            #expect((first["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[4], ids[3]])
            let cursor = try #require(first["nextCursor"] as? String)
            let second = try await client.execute(uri: "/v1/jobs?limit=2&cursor=\(cursor)", method: .get) { try json($0.body) }
            #expect((second["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[2], ids[1]])
            // The first holds the slot at its gate; the other four wait in order.
            _ = try await waitForState(client, ids[0], "running")
            let queued = try await client.execute(uri: "/v1/jobs?state=queued", method: .get) { try json($0.body) }
            let positions = (queued["jobs"] as? [[String: Any]] ?? []).compactMap { $0["queuePosition"] as? Int }
            #expect(positions == [4, 3, 2, 1])
            gate.open()
        }
    }

    @Test func cancelAJobThenCancelItAgain() async throws {
        let gate = try WorkerGate()
        try await withServer(gate: gate) { _, client in
            let id = try await submit(client, #"{"prompt": "a fox", "frames": 400, "pipeline": "gated"}"#).1["id"] as! String
            _ = try await waitForState(client, id, "running")
            try await client.execute(uri: "/v1/jobs/\(id)", method: .delete) { response in
                #expect(response.status == .ok)
                let state = try json(response.body)["state"] as? String
                #expect(state == "cancelled")
            }
            try await client.execute(uri: "/v1/jobs/\(id)", method: .delete) { response in
                #expect(response.status == .conflict)
                let code = (try json(response.body)["error"] as? [String: Any])?["code"] as? String
                #expect(code == "job_finished")
            }
            try await client.execute(uri: "/v1/jobs/\(id)/video", method: .get) { response in
                #expect(response.status == .conflict)
            }
        }
    }

    @Test func serverSentEventsFollowAJobFromSubmitToTheEnd() async throws {
        let gate = try WorkerGate()
        try await withServer(gate: gate) { host, client in
            // A job ahead of it on the one slot keeps it queued until the stream is open, so the
            // stream starts before its first chunk (a stream opened later starts at the job's
            // current progress and cannot show the chunks before it).
            _ = try await submit(client, #"{"prompt": "ahead", "frames": 8, "pipeline": "gated"}"#)
            let id = try await submit(client, #"{"prompt": "a fox", "frames": 24}"#).1["id"] as! String
            let followers = host.host.events.subscriberCount
            // Followed over a raw connection: the test client gives each request 20 s in all, which
            // two jobs under a full suite's load can outlast; this one only times out a silent read
            // (the stream says `: keep-alive` every 2 s).
            let port = try #require(client.port)
            let stream = try await onThread { try EventStreamClient(port: port, path: "/v1/jobs/\(id)/events") }
            #expect(stream.status == 200)
            try await until("the stream follows the job") { host.host.events.subscriberCount > followers }
            gate.open()
            let events = try await onThread { try stream.rest() }
            let names = events.map(\.name)
            let states = events.filter { $0.name == "state" }.compactMap { $0.json["state"] as? String }
            #expect(states.first == "queued")
            #expect(states.last == "succeeded")
            #expect(states.contains("running") && states.contains("encoding"))
            #expect(names.filter { $0 == "chunk" }.count == 3)
            #expect(names.last == "state")
            // A finished job's stream is its final state, then the end.
            let again = try await client.execute(uri: "/v1/jobs/\(id)/events", method: .get) { response in
                #expect(response.headers[.contentType] == "text/event-stream")
                return String(buffer: response.body)
            }
            #expect(again.components(separatedBy: "\n\n").filter { !$0.isEmpty }.count == 1)
        }
    }

    @Test func gpusMetricsHealthAndTheOpenAPIDocument() async throws {
        try await withServer { _, client in
            let id = try await submit(client, #"{"prompt": "a fox", "frames": 8}"#).1["id"] as! String
            _ = try await waitForState(client, id, "succeeded")
            let gpus = try await client.execute(uri: "/v1/gpus", method: .get) { try json($0.body) }
            let slots = try #require(gpus["slots"] as? [[String: Any]])
            #expect(slots.count == 1 && slots[0]["name"] as? String == "virtual0" && slots[0]["kind"] as? String == "virtual")
            #expect((slots[0]["gpuSeconds"] as? Double ?? 0) > 0)

            // The metrics service hears of the job's end through the event hub, a moment after the store.
            var metrics = ""
            try await until("/metrics counts the finished job") {
                metrics = try await client.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                    return String(buffer: response.body)
                }
                return metrics.contains("spool_jobs_finished_total{state=\"succeeded\"} 1\n")
            }
            for line in [
                "spool_jobs{state=\"succeeded\"} 1", "spool_jobs_finished_total{state=\"succeeded\"} 1",
                "spool_stage_seconds_count{stage=\"total\"} 1", "spool_stage_seconds_bucket{stage=\"generation\",le=\"+Inf\"} 1",
                "spool_encoded_frames_total 8", "spool_attempts_started_total 1", "spool_slot_busy{gpu=\"virtual0\"} 0",
            ] {
                #expect(metrics.contains(line + "\n"), "missing \(line)")
            }
            // Some slot time, however long the job took on a loaded machine.
            let held = metrics.split(separator: "\n").first { $0.hasPrefix("spool_gpu_seconds_total{gpu=\"virtual0\"} ") }
            #expect(held.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true, "\(held ?? "no spool_gpu_seconds_total")")
            #expect(metrics.contains("spool_encode_frames_per_second "))

            let health = try await client.execute(uri: "/healthz", method: .get) { try json($0.body) }
            #expect(health["status"] as? String == "ok")

            let served = try await client.execute(uri: "/openapi.json", method: .get) { Data($0.body.readableBytesView) }
            let repo = try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/SpoolServer/openapi.json"))
            let document = try #require(try JSONSerialization.jsonObject(with: served) as? [String: Any])
            // The repo's document, with this server's pipelines written into the job's schema.
            var repoDocument = try #require(try JSONSerialization.jsonObject(with: repo) as? [String: Any])
            let servedSchemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]
            let servedSpec = try #require(servedSchemas["JobSpec"] as? [String: Any])
            let pipelineEnum = ((servedSpec["properties"] as? [String: Any])?["pipeline"] as? [String: Any])?["enum"] as? [Any]
            #expect(pipelineEnum?.compactMap { $0 as? String } == ["synthetic"])
            var components = repoDocument["components"] as! [String: Any]
            var schemas = components["schemas"] as! [String: Any]
            schemas["JobSpec"] = servedSpec
            // So are the videos API's requests, and its form offers no input_reference: no pipeline here takes an image.
            let servedForm = try #require(servedSchemas["VideoCreateForm"] as? [String: Any])
            #expect((servedForm["properties"] as? [String: Any])?["input_reference"] == nil)
            schemas["VideoCreate"] = servedSchemas["VideoCreate"]
            schemas["VideoCreateForm"] = servedForm
            components["schemas"] = schemas
            repoDocument["components"] = components
            // The multipart form offers only the file parts some pipeline here takes: none.
            let servedJobs = try #require((document["paths"] as? [String: Any])?["/v1/jobs"] as? [String: Any])
            let servedBody = try #require((servedJobs["post"] as? [String: Any])?["requestBody"] as? [String: Any])
            let form = (servedBody["content"] as? [String: Any])?["multipart/form-data"] as? [String: Any]
            let parts = ((form?["schema"] as? [String: Any])?["properties"] as? [String: Any])?.keys.sorted()
            #expect(parts == ["job"])
            var paths = repoDocument["paths"] as! [String: Any]
            var jobs = paths["/v1/jobs"] as! [String: Any]
            var post = jobs["post"] as! [String: Any]
            post["requestBody"] = servedBody
            jobs["post"] = post
            paths["/v1/jobs"] = jobs
            repoDocument["paths"] = paths
            #expect(NSDictionary(dictionary: document).isEqual(to: repoDocument), "the served document is the repo's but for the job's and the video's schemas and forms")
            #expect(document["openapi"] as? String == "3.1.0")
            var documented = Set<String>()
            for (path, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
                for method in item.keys where ["get", "post", "delete", "put", "patch"].contains(method) {
                    documented.insert("\(method) \(path)")
                }
            }
            #expect(documented == Set(SpoolAPI.routes.map { "\($0.method) \($0.path)" }))
            // A method the API does not serve on a path it does: 405, naming those it does.
            try await client.execute(uri: "/v1/jobs", method: .init("TRACE")!) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST, GET")
            }
            try await client.execute(uri: "/v1/jobs/\(id)", method: .put) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "GET, DELETE")
            }
            // Every documented route is served (a route the router lacks answers 404 with no JSON error).
            // Deletions last: deleting the video removes the job the other routes read.
            for route in SpoolAPI.routes.sorted(by: { ($0.method == "delete" ? 1 : 0) < ($1.method == "delete" ? 1 : 0) }) {
                let uri = route.path.replacingOccurrences(of: "{id}", with: id).replacingOccurrences(of: "{name}", with: "init.mp4")
                let method: HTTPRequest.Method = route.method == "post" ? .post : route.method == "delete" ? .delete : .get
                try await client.execute(uri: uri, method: method, body: ByteBuffer(string: "{}")) { response in
                    // This host writes no live previews: those routes answer with the reason, as JSON.
                    let served = route.path.contains("/live") ? String(buffer: response.body).contains("\"error\"") : response.status != .notFound
                    #expect(served && response.status != .methodNotAllowed, "\(route): \(String(buffer: response.body))")
                }
            }
        }
    }

    @Test func aTokenGuardsEverythingButTheHealthCheck() async throws {
        try await withServer(token: Self.token) { _, client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            for uri in ["/v1/jobs", "/v1/gpus", "/metrics", "/openapi.json"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .unauthorized, "\(uri)")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                }
                try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer wrong"]) {
                    #expect($0.status == .unauthorized)
                }
                try await client.execute(uri: uri, method: .get, headers: auth()) { #expect($0.status == .ok, "\(uri)") }
            }
            let (status, _, _) = try await submit(client, #"{"prompt": "a fox", "frames": 8}"#)
            #expect(status == .unauthorized)
            let (authorized, _, _) = try await submit(client, #"{"prompt": "a fox", "frames": 8}"#, headers: auth())
            #expect(authorized == .created)
        }
    }

    /// The dashboard signs in once: the right token sets an HttpOnly, SameSite=Strict cookie the
    /// API accepts for reading; changing anything by cookie also needs X-Spool-Dashboard.
    @Test func theDashboardsCookieReadsAndActsOnlyWithItsHeader() async throws {
        try await withServer(token: Self.token) { _, client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(String(buffer: response.body).contains("<title>Spool</title>"))
            }
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            try await client.execute(uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "token=wrong")) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/?login=failed" && response.headers[.setCookie] == nil)
            }
            var cookie = ""
            let encoded = Self.token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? Self.token
            try await client.execute(uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "token=\(encoded)")) { response in
                let set = response.headers[.setCookie] ?? ""
                #expect(response.status == .seeOther && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "\(set)")
                cookie = String(set.split(separator: ";")[0])
            }
            let signedIn: HTTPFields = [.cookie: cookie]
            try await client.execute(uri: "/v1/jobs", method: .get, headers: signedIn) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/jobs", method: .get, headers: [.cookie: "spool_token=wrong"]) { #expect($0.status == .unauthorized) }
            let job = #"{"prompt": "a fox", "frames": 8}"#
            try await client.execute(uri: "/v1/jobs", method: .post, headers: signedIn, body: ByteBuffer(string: job)) { response in
                #expect(response.status == .forbidden, "a cookie alone never acts: another site's form could send it")
            }
            var acting = signedIn
            acting[HTTPField.Name("X-Spool-Dashboard")!] = "1"
            try await client.execute(uri: "/v1/jobs", method: .post, headers: acting, body: ByteBuffer(string: job)) { #expect($0.status == .created) }
        }
    }

    @Test func bindingBeyondLoopbackNeedsAToken() throws {
        #expect(HTTPServerConfiguration(host: "0.0.0.0").problem?.contains("--token-file") == true)
        #expect(HTTPServerConfiguration(host: "0.0.0.0", token: "t").problem == nil)
        #expect(HTTPServerConfiguration(host: "127.0.0.1").problem == nil)
        #expect(HTTPServerConfiguration(host: "::1").problem == nil)
        #expect(HTTPServerConfiguration.parseListen("0.0.0.0:9000")! == ("0.0.0.0", 9000))
        #expect(HTTPServerConfiguration.parseListen("[::1]:80")! == ("::1", 80))
        #expect(HTTPServerConfiguration.parseListen(":81")! == ("127.0.0.1", 81))
        #expect(HTTPServerConfiguration.parseListen("nope") == nil)
    }
}
