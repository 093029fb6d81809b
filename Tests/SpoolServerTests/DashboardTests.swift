import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// The dashboard in a real browser: Debian's Chromium, headless, driven through chromedriver
/// by Selenium (`Dashboard/dashboard_test.py`) against a real `spool serve` that needs a token.
/// It signs in, submits from the form, watches the running job's progress advance without a
/// reload, plays the finished MP4 on the job's page, and cancels a running job by its button.
@Suite("Dashboard in Chromium", .serialized, .enabled(if: HeadlessBrowser.isAvailable))
struct DashboardTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Dashboard/dashboard_test.py").path
    @Test func signInSubmitWatchPlayAndCancelInAHeadlessBrowser() async throws {
        let dir = try TemporaryDirectory("dashboard")
        defer { dir.remove() }
        let token = "dashboard-test-token"
        try token.write(toFile: dir.file("token"), atomically: true, encoding: .utf8)
        let gate = try WorkerGate()
        let daemon = try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "2", "--pipelines", ConditioningTests.pipelines,
                "--preset", "ultrafast", "--listen", "127.0.0.1:0", "--no-drop-folder", "--token-file", dir.file("token"),
            ],
            log: dir.file("daemon.log"), environment: ["SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 2)])
        defer { daemon.stop() }
        let url = try await daemon.httpURL()
        let screenshot = ProcessInfo.processInfo.environment["SPOOL_DASHBOARD_SCREENSHOT"] ?? dir.file("dashboard.png")

        // The browser takes seconds: on a thread of its own, not one of the few the test runner shares.
        let python = try #require(PythonTools.python)
        let run = try await onThread { try runProcess([python, Self.script, url, token, gate.path, screenshot]) }
        try #require(run.status == 0, "the browser test failed: \(run.stderr.suffix(3_000))\n\(daemon.output.suffix(2_000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])

        #expect(seen["signed_in"] as? Bool == true && seen["cookie_http_only"] as? Bool == true)
        #expect(seen["state_at_gate"] as? String == "running")
        // Progress drawn while the job still ran, above where the gate held it, with no reload.
        let progress = try #require(seen["progress"] as? [String: Any])
        let before = try #require(progress["before"] as? Double)
        let drawn = (progress["drawn"] as? [[Any]] ?? []).compactMap { step -> (String, Double)? in
            guard step.count == 2, let state = step[0] as? String, let percent = step[1] as? Double else { return nil }
            return (state, percent)
        }
        #expect(drawn.contains { $0.0 == "running" && $0.1 > before }, "\(drawn)")
        #expect(seen["still_same_page"] as? Bool == true)
        // The job's page: its stages and GPU-seconds, and the MP4 playing: Debian's Chromium decodes H.264.
        #expect((seen["stages"] as? String)?.contains("generation") == true)
        #expect(Double(seen["gpu_seconds"] as? String ?? "") ?? 0 > 0)
        // The encoder's measures of the video, as the API gives them.
        #expect((seen["quality"] as? String)?.contains("flicker") == true, "\(seen["quality"] ?? "no quality line")")
        let video = try #require(seen["video"] as? [String: Any], "the video never played: \(seen)")
        #expect(video["error"] is NSNull && (video["t"] as? Double ?? 0) > 0, "\(video)")
        // The cancel button cancelled a running job (the script waited for the API to say so).
        // The running job's page played its live preview through Media Source Extensions:
        // currentTime advanced past 0.5 s, and then by 0.4 s more, while the job still ran (held
        // at the gate, two chunks in).
        let live = try #require(seen["live"] as? [String: Any], "\(seen)")
        let first = try #require(live["first"] as? [String: Any], "\(live)")
        let later = try #require(live["later"] as? [String: Any], "the live preview did not play: \(first)")
        #expect(first["live"] as? String == "playing" && later["live"] as? String == "playing", "\(live)")
        #expect((first["src"] as? String)?.hasPrefix("blob:") == true, "played through Media Source Extensions: \(first)")
        let start = first["t"] as? Double ?? 0, end = later["t"] as? Double ?? 0
        #expect(start > 0.5 && end > start + 0.4, "\(live)")
        #expect(live["state"] as? String == "running", "the live preview played while the job ran: \(live)")
        #expect(seen["cancelled"] is String)
        #expect((seen["slot"] as? String)?.contains("busy") == true, "\(seen["slot"] ?? "")")
        #expect(seen["console_errors"] as? [String] == [], "the page logged errors: \(seen["console_errors"] ?? "")")
        #expect(FileManager.default.fileExists(atPath: screenshot))
    }

    static let tenantScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Dashboard/tenant_dashboard_test.py").path

    /// Signed in with a tenant's token (the cookie sign-in), the page shows that tenant's jobs
    /// alone and its own usage against its day's quota, with why its queued job waits; the
    /// other tenant's job is a 404 to the page's own requests and appears nowhere in it.
    @Test func aTenantSignedInSeesItsOwnJobsAndItsUsageAgainstItsQuota() async throws {
        let dir = try TemporaryDirectory("dashboard")
        defer { dir.remove() }
        let file = dir.file("tokens.json")
        let ana = try TenantTests.addToken(["ana", "--tokens", file, "--gpu-seconds-per-day", "0.001", "--max-queued", "5"])
        let bo = try TenantTests.addToken(["bo", "--tokens", file])
        let (daemon, gate) = try TenantTests.startDaemon(dir, tokens: file)
        defer {
            gate.open()
            daemon.stop()
        }
        let base = try await daemon.httpURL()
        let anaClient = SpoolClient(server: URL(string: base)!, token: ana)
        let boClient = SpoolClient(server: URL(string: base)!, token: bo)
        let short = JobSpec(prompt: "a fox", frames: 24, width: 64, height: 64)
        let spent = try await anaClient.submit(short).job
        try await until("ana's first job ends") { try await anaClient.job(spent.id).state == .succeeded }
        let waiting = try await anaClient.submit(short).job
        let other = try await boClient.submit(short).job
        try await until("bo's job ends while ana's waits for her quota") { try await boClient.job(other.id).state == .succeeded }

        let python = try #require(PythonTools.python)
        let run = try await onThread { try runProcess([python, Self.tenantScript, base, ana, other.id, spent.id]) }
        try #require(run.status == 0, "the browser test failed: \(run.stderr.suffix(3_000))\n\(daemon.output.suffix(2_000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])
        #expect(seen["tenants"] as? [String] == ["ana"], "\(seen)")
        #expect(Set(seen["jobs"] as? [String] ?? []) == [spent.id, waiting.id], "\(seen)")
        let usage = seen["usage"] as? String ?? ""
        #expect(usage.contains("of 0.001 GPU-s") && usage.contains("(100 %)") && usage.contains("1 of 5 queued"), "\(usage)")
        #expect(usage.contains("gpuSecondsPerDay") && usage.contains("room again by"), "\(usage)")
        #expect(seen["pool"] as? String == "1 queued in the pool")
        #expect(seen["other_job_status"] as? Int == 404)
        #expect(seen["page_text_names_other_job"] as? Bool == false)
        #expect(seen["job_tenant"] as? String == "ana")
    }
}
