import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// Webhooks end to end: a real `spool serve` signs and sends, a real receiver in its own
/// process verifies with the PyPI `standardwebhooks` package, fails when told to, goes
/// away and comes back; the daemon restarts in between.
@Suite("Webhooks, end to end", .serialized, .enabled(if: PythonTools.isAvailable()))
struct WebhookTests {
    static let receiverScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Webhooks/receiver.py").path
    static let pipelines = ConditioningTests.pipelines

    /// `spool serve` on `data` with fast retries, webhooks to loopback allowed (the receiver is here).
    static func daemon(_ dir: TemporaryDirectory, _ extra: [String] = [], log: String = "daemon.log") throws -> DaemonProcess {
        try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "2", "--pipelines", pipelines,
                "--preset", "ultrafast", "--listen", "127.0.0.1:0", "--no-drop-folder",
                "--webhook-allow-private", "--webhook-retry-delays", "0.2s",
            ] + extra,
            log: dir.file(log), environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
    }

    /// The secret the daemon on `data` signs with, written on first use: what a user does to
    /// configure a receiver (`spool serve --show-webhook-secret`).
    static func secret(_ dir: TemporaryDirectory) async throws -> String {
        let data = dir.file("data")
        let shown = try await onThread { try runProcess([DaemonProcess.binary, "serve", "--data", data, "--show-webhook-secret"]) }
        try #require(shown.status == 0, "\(shown.stderr)")
        let secret = shown.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secret.hasPrefix("whsec_"))
        let kept = try String(contentsOfFile: dir.file("data/webhook-secret"), encoding: .utf8)
        #expect(kept.contains(secret))
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("data/webhook-secret"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        return dir.file("data/webhook-secret")
    }

    static func spec(_ prompt: String, webhook: String? = nil, events: [WebhookEvent]? = nil) -> JobSpec {
        JobSpec(prompt: prompt, frames: 6, width: 128, height: 96, webhook: webhook, webhookEvents: events)
    }

    @Test func aReceiverThatFailsTwiceSeesOneIdThreeTimesAndTheDeliveryEndsDelivered() async throws {
        let dir = try TemporaryDirectory("webhooks")
        defer { dir.remove() }
        let receiver = WebhookReceiver(script: Self.receiverScript, secretFile: try await Self.secret(dir), log: dir.file("received.jsonl"), failFirst: 2)
        try await onThread { try receiver.start() }
        defer { receiver.stop() }
        let daemon = try Self.daemon(dir)
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)

        let job = try await client.submit(Self.spec("a fox", webhook: receiver.url + "/hook", events: [.started, .succeeded])).job
        // The second through the CLI, as a person would.
        let submitArguments = [
            DaemonProcess.binary, "submit", "--prompt", "a hare", "--frames", "6", "--size", "128x96", "--webhook", receiver.url + "/gone",
            "--webhook-event", "job.succeeded", "--server", try await daemon.httpURL(), "--json",
        ]
        let submitted = try await onThread { try runProcess(submitArguments) }
        try #require(submitted.status == 0, "\(submitted.stderr)")
        let gone = try JSONDecoder.spoolAPI.decode(JobResource.self, from: submitted.stdout)
        #expect(gone.spec.webhook == receiver.url + "/gone" && gone.spec.webhookEvents == [.succeeded])
        try await until("both of the first job's deliveries are delivered and the second's is abandoned") {
            let first = try await client.webhooks(job.id).deliveries
            let second = try await client.webhooks(gone.id).deliveries
            return first.count == 2 && first.allSatisfy { $0.state == .delivered } && second.first?.state == .abandoned
        }

        let entries = receiver.entries
        #expect(entries.allSatisfy { $0.verified }, "standardwebhooks refused a signature: \(entries.filter { !$0.verified })")
        for delivery in try await client.webhooks(job.id).deliveries {
            let seen = entries.filter { $0.id == delivery.id }
            #expect(seen.map(\.answered) == [500, 500, 200], "\(delivery.event): \(seen)")
            #expect(seen.allSatisfy { $0.type == delivery.event.rawValue && $0.job == job.id })
            #expect(delivery.tries.map(\.statusCode) == [500, 500, 200])
            #expect(delivery.nextAttemptAt == nil)
        }
        #expect(entries.filter { $0.job == job.id }.map(\.type).first == WebhookEvent.started.rawValue)
        #expect(Set(entries.filter { $0.job == job.id }.map(\.id)).count == 2, "one id per event, the same on every retry")
        let finished = try await client.job(job.id)
        #expect(finished.state == .succeeded)

        // 410 Gone stops the retries at once.
        let abandoned = try #require(try await client.webhooks(gone.id).deliveries.first)
        #expect(abandoned.event == .succeeded && abandoned.tries.map(\.statusCode) == [410])
        #expect(abandoned.lastError?.contains("410") == true)
        #expect(entries.filter { $0.job == gone.id }.count == 1)

        // `spool status` tells a person the same.
        let statusArguments = [DaemonProcess.binary, "status", gone.id, "--server", try await daemon.httpURL()]
        let status = try await onThread { try runProcess(statusArguments) }
        #expect(status.stdoutText.contains("job.succeeded abandoned") && status.stdoutText.contains("1 try (410)"), "\(status.stdoutText)")

        let metrics = try await Self.get(client: daemon, path: "/metrics")
        #expect(metrics.contains("spool_webhook_tries_total{result=\"delivered\"} 2"))
        #expect(metrics.contains("spool_webhook_tries_total{result=\"retried\"} 4"))
        #expect(metrics.contains("spool_webhook_tries_total{result=\"abandoned\"} 1"))
    }

    @Test func webhooksIntoThisNetworkAreRefusedUnlessTheHostAllowsThem() async throws {
        let dir = try TemporaryDirectory("webhooks-private")
        defer { dir.remove() }
        let daemon = try DaemonProcess(
            arguments: ["--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "1", "--pipelines", Self.pipelines,
                        "--listen", "127.0.0.1:0", "--no-drop-folder"],
            log: dir.file("daemon.log"))
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        for target in ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://localhost/x", "ftp://example.com/x"] {
            do {
                _ = try await client.submit(Self.spec("a fox", webhook: target))
                Issue.record("a job with webhook \(target) was accepted")
            } catch {
                #expect("\(error)".contains("webhook"), "\(target): \(error)")
            }
        }
        // A name is judged by what it resolves to, before each try: this machine's own name
        // (where /etc/hosts maps it to loopback, as Debian does) is accepted at submission and
        // its delivery abandoned, saying why.
        let name = ProcessInfo.processInfo.hostName
        if Self.resolvesToLoopback(name) {
            let job = try await client.submit(Self.spec("a fox", webhook: "http://\(name):9/hook")).job
            try await until("the delivery to \(name) is abandoned") { try await client.webhooks(job.id).deliveries.first?.state == .abandoned }
            let delivery = try #require(try await client.webhooks(job.id).deliveries.first)
            #expect(delivery.lastError?.contains("\(name) resolves to 127.") == true, "\(delivery)")
            #expect(delivery.tries.count == 1 && delivery.tries[0].statusCode == nil)
        } else {
            print("note: \(name) does not resolve to loopback here; the resolution check is not exercised")
        }

        // And a host-wide --webhook into the network stops the daemon from starting, saying why.
        let other = dir.file("other")
        let refused = try await onThread {
            try runProcess([DaemonProcess.binary, "serve", "--data", other, "--webhook", "http://192.168.1.5/hook", "--listen", "127.0.0.1:0"])
        }
        #expect(refused.status != 0 && refused.stderr.contains("--webhook-allow-private"), "\(refused.stderr)")
    }

    /// The issue's acceptance: every final event of 100 jobs reaches a receiver exactly once per
    /// event id, though the daemon restarts and the receiver is down for a while.
    @Test func everyFinalEventOfAHundredJobsArrivesOnceDespiteARestartAndAReceiverThatIsDown() async throws {
        let dir = try TemporaryDirectory("webhooks-hundred")
        defer { dir.remove() }
        let receiver = WebhookReceiver(script: Self.receiverScript, secretFile: try await Self.secret(dir), log: dir.file("received.jsonl"))
        try await onThread { try receiver.start() }
        defer { receiver.stop() }
        let hook = ["--webhook", receiver.url + "/all"]
        var daemon = try Self.daemon(dir, hook)
        var client = SpoolClient(server: URL(string: try await daemon.httpURL())!)

        // A first 30 jobs while the receiver listens; it goes away once it has heard of some.
        var ids: [String] = []
        for index in 0..<30 { ids.append(try await client.submit(Self.spec("job \(index)")).job.id) }
        try await until("the receiver has heard of 10 jobs") { Set(receiver.entries.compactMap(\.job)).count >= 10 }
        try await onThread { receiver.stop() }
        // 70 more while it is down (every tenth cancelled: job.cancelled is a final event too).
        // Their deliveries can only fail, and wait.
        for index in 30..<100 {
            let id = try await client.submit(Self.spec("job \(index)")).job.id
            ids.append(id)
            if index % 10 == 3 { _ = try? await client.cancel(id) }
        }
        try await until("a delivery has failed for want of a receiver") {
            try await Self.get(client: daemon, path: "/metrics").contains(/spool_webhook_tries_total\{result="retried"\} [1-9]/)
        }
        // The daemon restarts with jobs still to run and deliveries still owed.
        // A graceful stop (not the SIGKILL after the bound): running jobs get their grace, and on a
        // loaded machine idle-priority encoders take their time, so the bound is generous.
        #expect(daemon.stop(timeout: 300), "the daemon stops on SIGTERM: \(daemon.output.suffix(4_000))")
        daemon = try Self.daemon(dir, hook, log: "daemon2.log")
        defer { daemon.stop() }
        client = SpoolClient(server: URL(string: try await daemon.httpURL())!)
        try await onThread { try receiver.start() }

        let answered = { Set(receiver.entries.filter { $0.answered == 200 }.compactMap(\.job)).count }
        try await until("every job has ended and its final event has been answered 200", stalledFor: 120, progress: answered) {
            answered() == ids.count
        }
        let entries = receiver.entries
        #expect(entries.allSatisfy { $0.verified })
        let delivered = entries.filter { $0.answered == 200 }
        // Exactly once per event id: no id answered 200 twice, and one id per job (one final event each).
        #expect(Set(delivered.compactMap(\.id)).count == delivered.count, "an id was delivered twice")
        for id in ids {
            let job = try await client.job(id)
            let seen = entries.filter { $0.job == id }
            #expect(Set(seen.compactMap(\.id)).count == 1, "job \(id) was sent under \(Set(seen.compactMap(\.id)).count) ids")
            #expect(seen.allSatisfy { $0.type == "job.\(job.state.rawValue)" && $0.state == job.state.rawValue })
            let deliveries = try await client.webhooks(id).deliveries
            #expect(deliveries.count == 1 && deliveries[0].state == .delivered)
        }
        #expect(ids.count == 100)
        #expect(entries.contains { $0.type == "job.cancelled" } && entries.contains { $0.type == "job.succeeded" })
    }

    /// Whether `name` resolves, and only to 127.x addresses.
    static func resolvesToLoopback(_ name: String) -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            let address = current.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
            if UInt32(bigEndian: address) >> 24 != 127 { return false }
            entry = current.pointee.ai_next
        }
        return true
    }

    /// GET on the daemon's HTTP API, as text.
    static func get(client daemon: DaemonProcess, path: String) async throws -> String {
        let url = URL(string: "\(try await daemon.httpURL())\(path)")!
        let (data, _) = try await URLSession.shared.data(from: url)
        return String(decoding: data, as: UTF8.self)
    }
}
