import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// Tenants (issue 31): named tokens from `spool tokens add`, a real `spool serve --tokens`,
/// and every route of its own `openapi.json` walked with another tenant's job ids.
@Suite("Tenants", .serialized, .enabled(if: MediaProbe.toolsAvailable))
struct TenantTests {
    /// `spool tokens add ARGUMENTS`: the token it printed.
    static func addToken(_ arguments: [String]) throws -> String {
        let result = try runProcess([DaemonProcess.binary, "tokens", "add"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One request with `token`: its status and body.
    static func call(_ base: String, _ method: String, _ path: String, token: String?, body: String? = nil) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
    }

    @Test func anotherTenantsJobsDoNotExistOnAnyRoute() async throws {
        let dir = try TemporaryDirectory("tenants")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try Self.addToken(["ana", "--tokens", file])
        let bo = try Self.addToken(["bo", "--tokens", file])
        let ops = try Self.addToken(["ops", "--role", "admin", "--tokens", file])
        #expect(ana.hasPrefix("spool_") && ana != bo && bo != ops)
        // The file holds hashes, never a token.
        let stored = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!stored.contains(ana) && stored.contains(String(TenantsFileHash.of(ana))))

        let gate = try WorkerGate()
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: ConditioningTests.pipelines, ["--tokens", file],
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0", "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)])
        defer {
            gate.open()
            daemon.stop()
        }
        let base = try await daemon.httpURL()
        let anaClient = SpoolClient(server: URL(string: base)!, token: ana)
        // Ana's first job ends (one chunk, before the gate); her second runs, held at the gate.
        let done = try await anaClient.submit(JobSpec(prompt: "ana's fox", frames: 24, width: 64, height: 64, idempotencyKey: "same-key")).job
        try await until("ana's first job succeeds") { try await anaClient.job(done.id).state == .succeeded }
        let running = try await anaClient.submit(JobSpec(prompt: "ana's hare", frames: 66, width: 64, height: 64)).job
        try await until("ana's second job runs") { try await anaClient.job(running.id).state == .running }
        #expect(try await anaClient.job(done.id).tenant == "ana")
        // A file of her live preview, to ask for by name.
        let playlist = try await Self.call(base, "GET", "/v1/jobs/\(done.id)/live.m3u8", token: ana)
        #expect(playlist.status == 200)
        let segment = try #require(playlist.body.split(separator: "\n").first { !$0.hasPrefix("#") && !$0.isEmpty }).split(separator: "/").last!

        // Every route of the served document, as bo.
        let (_, document) = try await Self.call(base, "GET", "/openapi.json", token: bo)
        let paths = try #require((try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any])?["paths"] as? [String: [String: Any]])
        var walked = 0
        for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
            for method in operations.keys.sorted() where ["get", "delete"].contains(method) {
                for id in [done.id, running.id] {
                    let path = template.replacingOccurrences(of: "{id}", with: id).replacingOccurrences(of: "{name}", with: String(segment))
                    let asBo = try await Self.call(base, method.uppercased(), path, token: bo)
                    if !template.contains("{id}") {
                        // A list, the slots, the document: none names ana's jobs.
                        #expect(!asBo.body.contains(done.id) && !asBo.body.contains(running.id), "\(method) \(path) as bo: \(asBo.body)")
                    } else {
                        // The same answer as for a job that never was: its existence does not leak.
                        let none = try await Self.call(
                            base, method.uppercased(), path.replacingOccurrences(of: id, with: "no-such-job"), token: bo)
                        #expect(asBo.status == 404 && none.status == 404, "\(method) \(path) as bo: \(asBo.status) \(asBo.body)")
                        #expect(asBo.body.replacingOccurrences(of: id, with: "no-such-job") == none.body, "\(method) \(path)")
                    }
                    walked += 1
                }
            }
        }
        #expect(walked >= 2 * 17, "every GET and DELETE route of openapi.json")
        // Nothing bo did touched ana's jobs.
        #expect(try await anaClient.job(done.id).state == .succeeded)
        #expect(try await anaClient.job(running.id).state == .running)

        // Lists: bo's own only; an admin's, everyone's. /metrics is for admins.
        let boJob = try await SpoolClient(server: URL(string: base)!, token: bo)
            .submit(JobSpec(prompt: "bo's owl", frames: 24, width: 64, height: 64, idempotencyKey: "same-key")).job
        #expect(boJob.id != done.id, "an idempotency key is the tenant's own")
        #expect(boJob.tenant == "bo")
        let boList = try await Self.call(base, "GET", "/v1/jobs", token: bo)
        #expect(boList.body.contains(boJob.id) && !boList.body.contains(done.id))
        let anaList = try await Self.call(base, "GET", "/v1/jobs", token: ana)
        #expect(anaList.body.contains(done.id) && !anaList.body.contains(boJob.id))
        let opsList = try await Self.call(base, "GET", "/v1/jobs", token: ops)
        #expect(opsList.body.contains(done.id) && opsList.body.contains(boJob.id))
        #expect(try await Self.call(base, "GET", "/metrics", token: bo).status == 403)
        #expect(try await Self.call(base, "GET", "/metrics", token: ops).status == 200)
        // The slot is busy with ana's job: bo sees it busy, and whose it is only ana and ops.
        let gpusAsBo = try await Self.call(base, "GET", "/v1/gpus", token: bo)
        #expect(gpusAsBo.body.contains("\"busy\":true") && !gpusAsBo.body.contains(running.id), "\(gpusAsBo.body)")
        #expect(try await Self.call(base, "GET", "/v1/gpus", token: ana).body.contains(running.id))
        // An admin acts on anyone's job; a token that is no one's is refused.
        #expect(try await Self.call(base, "GET", "/v1/jobs/\(running.id)", token: ops).status == 200)
        #expect(try await Self.call(base, "GET", "/v1/jobs", token: "spool_nobody").status == 401)
    }

    @Test func aTenantPastItsQueueLimitIsRefusedAndARemovedTokenIsRefusedAfterSIGHUP() async throws {
        let dir = try TemporaryDirectory("tenants")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try Self.addToken(["ana", "--tokens", file, "--max-queued", "1"])
        let bo = try Self.addToken(["bo", "--tokens", file])
        let ops = try Self.addToken(["ops", "--role", "admin", "--tokens", file])
        let gate = try WorkerGate()
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: ConditioningTests.pipelines, ["--tokens", file],
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0", "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)])
        defer {
            gate.open()
            daemon.stop()
        }
        let base = try await daemon.httpURL()
        let job = #"{"prompt": "a fox", "frames": 66, "width": 64, "height": 64}"#
        // One slot, held: the first job runs, the second waits, the third is past maxQueued 1.
        let first = try await Self.call(base, "POST", "/v1/jobs", token: ana, body: job)
        #expect(first.status == 201)
        let firstID = try #require((try JSONSerialization.jsonObject(with: Data(first.body.utf8)) as? [String: Any])?["id"] as? String)
        try await until("ana's first job runs") { try await Self.call(base, "GET", "/v1/jobs/\(firstID)", token: ana).body.contains("\"state\":\"running\"") }
        #expect(try await Self.call(base, "POST", "/v1/jobs", token: ana, body: job).status == 201)
        let refused = try await Self.call(base, "POST", "/v1/jobs", token: ana, body: job)
        #expect(refused.status == 429 && refused.body.contains("maxQueued 1"), "\(refused.body)")
        // Another tenant's queue is its own.
        #expect(try await Self.call(base, "POST", "/v1/jobs", token: bo, body: job).status == 201)

        // Ana is removed; the host reads the file again on SIGHUP. Her running job finishes.
        let removed = try runProcess([DaemonProcess.binary, "tokens", "remove", "ana", "--tokens", file])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try await Self.call(base, "GET", "/v1/jobs", token: ana).status == 200, "not before the host reads the file again")
        daemon.send(SIGHUP)
        try await until("ana's token is refused") { try await Self.call(base, "GET", "/v1/jobs", token: ana).status == 401 }
        #expect(try await Self.call(base, "GET", "/v1/jobs", token: bo).status == 200)
        gate.open()
        try await until("ana's running job finishes") {
            try await Self.call(base, "GET", "/v1/jobs/\(firstID)", token: ops).body.contains("\"state\":\"succeeded\"")
        }
    }
}

/// How `spool tokens add` stores a token: the same rule, from the test's side.
enum TenantsFileHash {
    static func of(_ token: String) -> String {
        let result = try? runProcess(["sha256sum"], stdin: Data(token.utf8))
        return String(result?.stdoutText.prefix(64) ?? "")
    }
}
