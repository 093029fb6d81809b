import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolPostgres
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

    /// `spool serve --tokens FILE` on one slot, its synthetic workers held before their second
    /// chunk until the gate opens (a 24-frame job ends, a 66-frame one holds the slot).
    static func startDaemon(
        _ dir: TemporaryDirectory, tokens file: String, _ extra: [String] = [], log: String = "daemon.log"
    ) throws -> (DaemonProcess, WorkerGate) {
        let gate = try WorkerGate()
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: ConditioningTests.pipelines, ["--tokens", file] + extra,
            environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0", "SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 1)], log: log)
        return (daemon, gate)
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

        let (daemon, gate) = try Self.startDaemon(dir, tokens: file)
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
        let walked = try await Self.walkEveryRoute(base, as: bo, ids: [done.id, running.id], segment: String(segment))
        #expect(walked >= 2 * 18, "every GET and DELETE route of openapi.json")
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
        // Usage: bo sees his own tenant alone; an admin every tenant; the CLI says the same.
        let usageAsBo = try JSONDecoder.spoolAPI.decode(UsageReport.self, from: Data(try await Self.call(base, "GET", "/v1/usage", token: bo).body.utf8))
        #expect(usageAsBo.tenants.map(\.tenant) == ["bo"])
        let usageAsOps = try JSONDecoder.spoolAPI.decode(UsageReport.self, from: Data(try await Self.call(base, "GET", "/v1/usage", token: ops).body.utf8))
        let anaUsage = try #require(usageAsOps.tenants.first { $0.tenant == "ana" })
        #expect(anaUsage.gpuSeconds > 0 && anaUsage.running == 1 && anaUsage.queued == 0, "\(anaUsage)")
        try ana.write(toFile: dir.file("ana.token"), atomically: true, encoding: .utf8)
        let cli = try runProcess([DaemonProcess.binary, "usage", "--server", base, "--token-file", dir.file("ana.token")])
        #expect(cli.status == 0 && cli.stdoutText.contains("ana") && !cli.stdoutText.contains("bo "), "\(cli.stdoutText) \(cli.stderr)")
        #expect(try await Self.call(base, "GET", "/metrics", token: ops).body.contains("spool_tenant_jobs{tenant=\"ana\",state=\"running\"} 1"))

        // An admin acts on anyone's job; a token that is no one's is refused.
        #expect(try await Self.call(base, "GET", "/v1/jobs/\(running.id)", token: ops).status == 200)
        #expect(try await Self.call(base, "GET", "/v1/jobs", token: "spool_nobody").status == 401)
    }

    /// Every GET and DELETE route of the server's own `openapi.json`, as `token`, with each of
    /// `ids` (another tenant's jobs) and `segment` (a file of their live preview): an id route
    /// answers 404, the same bytes as for a job that never was; any other names none of them.
    /// Returns how many requests were made.
    static func walkEveryRoute(_ base: String, as token: String, ids: [String], segment: String) async throws -> Int {
        let (_, document) = try await call(base, "GET", "/openapi.json", token: token)
        let paths = try #require((try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any])?["paths"] as? [String: [String: Any]])
        var walked = 0
        for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
            for method in operations.keys.sorted() where ["get", "delete"].contains(method) {
                for id in ids {
                    let path = template.replacingOccurrences(of: "{id}", with: id).replacingOccurrences(of: "{name}", with: segment)
                    let answer = try await call(base, method.uppercased(), path, token: token)
                    if !template.contains("{id}") {
                        // A list, the slots, the usage, the document: none names the other's jobs.
                        #expect(!ids.contains { answer.body.contains($0) }, "\(method) \(path): \(answer.body)")
                    } else {
                        // The same answer as for a job that never was: its existence does not leak.
                        let none = try await call(base, method.uppercased(), path.replacingOccurrences(of: id, with: "no-such-job"), token: token)
                        #expect(answer.status == 404 && none.status == 404, "\(method) \(path): \(answer.status) \(answer.body)")
                        #expect(answer.body.replacingOccurrences(of: id, with: "no-such-job") == none.body, "\(method) \(path)")
                    }
                    walked += 1
                }
            }
        }
        return walked
    }

    /// The same walk on a shared PostgreSQL queue with two hosts: ana's jobs submitted and run
    /// through one, bo walking the other.
    @Test(.enabled(if: PostgresTestServer.isAvailable))
    func anotherTenantsJobsDoNotExistOnAnyRouteOfAnyHostOfASharedQueue() async throws {
        let dir = try TemporaryDirectory("tenants-pg")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try Self.addToken(["ana", "--tokens", file])
        let bo = try Self.addToken(["bo", "--tokens", file])
        let address = try await PostgresTestServer.createDatabase()
        let hosts = try ["a", "b"].map { name in
            try DaemonProcess(
                arguments: [
                    "--store", address.url, "--host", name, "--data", dir.file(name), "--videos", dir.file("videos"),
                    "--gpus", "none", "--virtual-slots", "1", "--pipelines", ConditioningTests.pipelines, "--tokens", file,
                    "--listen", "127.0.0.1:0", "--preset", "ultrafast", "--no-drop-folder",
                ],
                log: dir.file("\(name).log"), environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
        }
        defer {
            for host in hosts { host.stop() }
        }
        let (a, b) = (try await hosts[0].httpURL(), try await hosts[1].httpURL())
        let anaClient = SpoolClient(server: URL(string: a)!, token: ana)
        let job = try await anaClient.submit(JobSpec(prompt: "ana's fox", frames: 24, width: 64, height: 64)).job
        try await until("ana's job succeeds") { try await anaClient.job(job.id).state == .succeeded }
        // Seen from host b, ana's job is there for ana, and for bo it is not.
        #expect(try await SpoolClient(server: URL(string: b)!, token: ana).job(job.id).tenant == "ana")
        let walked = try await Self.walkEveryRoute(b, as: bo, ids: [job.id], segment: "seg00000.m4s")
        #expect(walked >= 18)
        await PostgresTestServer.dropDatabase(address)
    }

    @Test func aTenantPastItsQueueLimitIsRefusedAndARemovedTokenIsRefusedAfterSIGHUP() async throws {
        let dir = try TemporaryDirectory("tenants")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try Self.addToken(["ana", "--tokens", file, "--max-queued", "1"])
        let bo = try Self.addToken(["bo", "--tokens", file])
        let ops = try Self.addToken(["ops", "--role", "admin", "--tokens", file])
        let (daemon, gate) = try Self.startDaemon(dir, tokens: file)
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
        // The CLI says to try again later (75), naming the limit.
        try ana.write(toFile: dir.file("ana.token"), atomically: true, encoding: .utf8)
        let cli = try runProcess([
            DaemonProcess.binary, "submit", "--prompt", "a fox", "--frames", "66", "--size", "64x64", "--server", base,
            "--token-file", dir.file("ana.token"),
        ])
        #expect(cli.status == 75 && cli.stderr.contains("maxQueued 1"), "\(cli.status) \(cli.stderr)")
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

extension TenantTests {
    /// Fair share: ana's burst of six jobs queued first does not hold bo's one job behind all
    /// of them. One slot; ana's first job holds it (at the gate) while the rest are submitted.
    /// Without fair share bo's job would run last; with it, it runs next.
    @Test func aBurstOfOneTenantDoesNotHoldAnothersSingleJob() async throws {
        let dir = try TemporaryDirectory("tenants")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try Self.addToken(["ana", "--tokens", file])
        let bo = try Self.addToken(["bo", "--tokens", file])
        let admin = try Self.addToken(["ops", "--role", "admin", "--tokens", file])
        let (daemon, gate) = try Self.startDaemon(dir, tokens: file)
        defer {
            gate.open()
            daemon.stop()
        }
        let base = try await daemon.httpURL()
        let anaClient = SpoolClient(server: URL(string: base)!, token: ana)
        let boClient = SpoolClient(server: URL(string: base)!, token: bo)
        let opsClient = SpoolClient(server: URL(string: base)!, token: admin)
        let spec = JobSpec(prompt: "a fox", frames: 66, width: 64, height: 64)
        let first = try await anaClient.submit(spec).job
        try await until("ana's first job holds the slot") { try await anaClient.job(first.id).state == .running }
        var burst: [String] = []
        for _ in 0..<5 { burst.append(try await anaClient.submit(spec).job.id) }
        let single = try await boClient.submit(spec).job

        // Queue positions: a user's count its own tenant's jobs (bo's one job is his first, not
        // the sixth); an admin's, the whole queue; /v1/usage gives a user the pool's total.
        // The same through the router and through the poll answered in the channel pipeline.
        #expect(single.queuePosition == 1)
        #expect(try await boClient.job(single.id).queuePosition == 1)
        #expect(try await anaClient.job(burst[4]).queuePosition == 5)
        #expect(try await opsClient.job(single.id).queuePosition == 6)
        let port = try #require(URL(string: base)?.port)
        for (token, position) in [(bo, 1), (admin, 6)] {
            let polled = try await onThread {
                try RawHTTPConnection(port: port).get("/v1/jobs/\(single.id)", headers: "Authorization: Bearer \(token)\r\n")
            }
            let resource = try JSONSerialization.jsonObject(with: Data(polled.body)) as? [String: Any]
            #expect(polled.status == 200 && resource?["queuePosition"] as? Int == position, "\(String(decoding: polled.body, as: UTF8.self))")
        }
        #expect(try await boClient.usage().queuedInPool == 6)
        #expect(try await boClient.list().jobs.map(\.queuePosition) == [1])
        gate.open()
        try await until("every job ends") {
            var all: [JobResource] = []
            for id in [first.id, single.id] + burst { all.append(try await opsClient.job(id)) }
            return all.allSatisfy { $0.state == .succeeded }
        }
        let started = try await opsClient.job(single.id).timings.startedAt!
        for id in burst {
            #expect(try await opsClient.job(id).timings.startedAt! > started, "bo's job ran before the rest of ana's burst")
        }
    }
}

extension TenantTests {
    /// maxRunning: on two slots, ana's second job waits while her first holds a slot (saying
    /// why, on the job and in /v1/usage), and bo's job takes the other slot ahead of it.
    @Test func aTenantAtItsMaxRunningWaitsWhileAnothersJobTakesTheFreeSlot() async throws {
        let dir = try TemporaryDirectory("tenants")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try Self.addToken(["ana", "--tokens", file, "--max-running", "1"])
        let bo = try Self.addToken(["bo", "--tokens", file])
        let (daemon, gate) = try Self.startDaemon(dir, tokens: file, ["--virtual-slots", "2"])
        defer {
            gate.open()
            daemon.stop()
        }
        let base = try await daemon.httpURL()
        let anaClient = SpoolClient(server: URL(string: base)!, token: ana)
        let boClient = SpoolClient(server: URL(string: base)!, token: bo)
        let spec = JobSpec(prompt: "a fox", frames: 66, width: 64, height: 64)
        let first = try await anaClient.submit(spec).job
        try await until("ana's first job holds a slot") { try await anaClient.job(first.id).state == .running }
        let second = try await anaClient.submit(spec).job
        let other = try await boClient.submit(spec).job
        try await until("bo's job takes the other slot") { try await boClient.job(other.id).state == .running }
        let waiting = try await anaClient.job(second.id)
        #expect(waiting.state == .queued)
        #expect(waiting.waitingReason?.contains("maxRunning 1") == true, "\(waiting.waitingReason ?? "no reason")")
        let usage = try await anaClient.usage()
        #expect(usage.tenants.map(\.tenant) == ["ana"])
        #expect(usage.tenants.first?.running == 1 && usage.tenants.first?.limits?.maxRunning == 1)
        #expect(usage.tenants.first?.waitingReason?.contains("maxRunning 1") == true)
        gate.open()
        try await until("ana's second job runs once her first leaves its slot, and every job ends") {
            let anas = try await anaClient.job(second.id).state, bos = try await boClient.job(other.id).state
            return anas == .succeeded && bos == .succeeded
        }
        let firstEnded = try await anaClient.job(first.id).timings.generatedAt!
        #expect(try await anaClient.job(second.id).timings.startedAt! >= firstEnded)
    }

    /// gpuSecondsPerDay: once ana's day is spent her next job waits, saying until when, while
    /// bo's runs on the free slot; a host with `--over-quota refuse` refuses her submission
    /// (429, Retry-After) and stores nothing; a raised limit, read on SIGHUP, lets the waiting
    /// job run.
    @Test func aTenantPastItsGPUSecondsOfTheDayWaitsOrIsRefusedUntilItsLimitIsRaised() async throws {
        let dir = try TemporaryDirectory("tenants")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try Self.addToken(["ana", "--tokens", file, "--gpu-seconds-per-day", "0.001"])
        let bo = try Self.addToken(["bo", "--tokens", file])
        let short = JobSpec(prompt: "a fox", frames: 24, width: 64, height: 64)
        var (daemon, gate) = try Self.startDaemon(dir, tokens: file)
        defer {
            gate.open()
            daemon.stop()
        }
        var base = try await daemon.httpURL()
        var anaClient = SpoolClient(server: URL(string: base)!, token: ana)
        let spent = try await anaClient.submit(short).job
        try await until("ana's first job ends") { try await anaClient.job(spent.id).state == .succeeded }
        let waiting = try await anaClient.submit(short).job
        let boClient = SpoolClient(server: URL(string: base)!, token: bo)
        let other = try await boClient.submit(short).job
        try await until("bo's job runs and ends while ana's waits") { try await boClient.job(other.id).state == .succeeded }
        let held = try await anaClient.job(waiting.id)
        #expect(held.state == .queued)
        #expect(held.waitingReason?.contains("of its 0.001 GPU-seconds in the last 24 h (gpuSecondsPerDay); room again by") == true,
                "\(held.waitingReason ?? "no reason")")
        daemon.stop()

        // The same store under --over-quota refuse: a 429 naming the limit, nothing stored.
        (daemon, gate) = try Self.startDaemon(dir, tokens: file, ["--over-quota", "refuse"], log: "refusing.log")
        base = try await daemon.httpURL()
        anaClient = SpoolClient(server: URL(string: base)!, token: ana)
        var request = URLRequest(url: URL(string: base + "/v1/jobs")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(ana)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"prompt": "a fox", "frames": 24, "width": 64, "height": 64}"#.utf8)
        let (body, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        #expect(http.statusCode == 429 && String(decoding: body, as: UTF8.self).contains("gpuSecondsPerDay"))
        let retryAfter = Int(http.value(forHTTPHeaderField: "Retry-After") ?? "") ?? 0
        #expect(retryAfter > 23 * 3_600 && retryAfter <= 25 * 3_600, "\(retryAfter)")
        #expect(try await anaClient.list().jobs.count == 2)

        // A raised limit, read on SIGHUP: the waiting job runs.
        _ = try Self.addToken(["ana", "--tokens", file, "--gpu-seconds-per-day", "100000"])
        daemon.send(SIGHUP)
        try await until("ana's waiting job runs once her limit is raised") { try await anaClient.job(waiting.id).state == .succeeded }
    }
}

extension TenantTests {
    /// A tenant's own webhook secret (`spool tokens add --new-webhook-secret`) signs its jobs'
    /// webhooks: the receiver, verifying with `standardwebhooks` and that secret alone, accepts
    /// them (with the host's secret, which signed them before, it would not).
    @Test func aTenantsJobsWebhooksAreSignedWithItsOwnSecret() async throws {
        let dir = try TemporaryDirectory("tenants")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let added = try runProcess([DaemonProcess.binary, "tokens", "add", "ana", "--tokens", file, "--new-webhook-secret"])
        let lines = added.stdoutText.split(separator: "\n").map(String.init)
        try #require(added.status == 0 && lines.count == 2 && lines[1].hasPrefix("whsec_"), "\(added.stdoutText) \(added.stderr)")
        try lines[1].write(toFile: dir.file("ana-secret"), atomically: true, encoding: .utf8)
        let receiver = WebhookReceiver(script: WebhookTests.receiverScript, secretFile: dir.file("ana-secret"), log: dir.file("received.jsonl"))
        try await onThread { try receiver.start() }
        defer { receiver.stop() }
        let (daemon, gate) = try Self.startDaemon(dir, tokens: file, ["--webhook-allow-private"])
        defer {
            gate.open()
            daemon.stop()
        }
        let ana = SpoolClient(server: URL(string: try await daemon.httpURL())!, token: lines[0])
        let job = try await ana.submit(JobSpec(
            prompt: "a fox", frames: 24, width: 64, height: 64, webhook: receiver.url + "/hook", webhookEvents: [.started, .succeeded])).job
        try await until("both deliveries are delivered") {
            let deliveries = try await ana.webhooks(job.id).deliveries
            return deliveries.count == 2 && deliveries.allSatisfy { $0.state == .delivered }
        }
        let entries = receiver.entries
        #expect(entries.count == 2 && entries.allSatisfy { $0.verified && $0.job == job.id }, "\(entries)")
    }
}

/// How `spool tokens add` stores a token: the same rule, from the test's side.
enum TenantsFileHash {
    static func of(_ token: String) -> String {
        let result = try? runProcess(["sha256sum"], stdin: Data(token.utf8))
        return String(result?.stdoutText.prefix(64) ?? "")
    }
}
