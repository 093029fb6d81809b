import Foundation
import SpoolTesting
import Testing

/// The API document says what the server enforces: a schema fuzzer nobody here wrote
/// (schemathesis) generates requests from `/openapi.json`, valid and invalid, runs them
/// against a real `spool serve`, and checks every answer against the document: valid
/// requests accepted, invalid ones rejected, every status, header and body as declared,
/// undeclared methods answered 405 with `Allow`. A fixed seed and time budget keep a run
/// reproducible and bounded.
@Suite("OpenAPI document", .serialized, .enabled(if: PythonTools.isAvailable("schemathesis")))
struct OpenAPIFuzzTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Schemathesis").path

    @Test func aSchemaFuzzerFindsNothingTheDocumentDoesNotSay() async throws {
        let schemathesis = try #require(PythonTools.program("schemathesis"), "run scripts/setup-python.sh")
        let dir = try TemporaryDirectory("fuzz")
        defer { dir.remove() }
        // The fuzzer's pipelines take only small sizes, which the served document states, so
        // every job it submits finishes in a moment.
        let daemon = try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--listen", "127.0.0.1:0", "--gpus", "none", "--virtual-slots", "1",
                "--pipelines", Self.folder + "/pipelines", "--preset", "ultrafast", "--no-drop-folder",
                // Jobs the fuzzer writes may name any webhook its pattern allows, 0.0.0.0 included.
                "--webhook-allow-private", "--webhook-timeout", "2",
            ],
            log: dir.file("daemon.log"), environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
        defer { daemon.stop() }
        let url = try await daemon.httpURL()
        // A fixed seed keeps CI reproducible; SPOOL_FUZZ_SEED runs another (any seed's failure
        // is reproduced by passing it again).
        let seed = ProcessInfo.processInfo.environment["SPOOL_FUZZ_SEED"] ?? "20261126"
        print("schemathesis seed: \(seed)")
        let run = try await onThread {
            try runProcess([
                schemathesis, "--config-file", Self.folder + "/schemathesis.toml", "--no-color", "run",
                "\(url)/openapi.json", "--checks", "all", "--exclude-checks", "use_after_free",
                "--max-time", "60", "--seed", seed, "--workers", "1", "--request-timeout", "30",
            // In the scratch folder: schemathesis keeps a cache (.schemathesis/) where it runs.
            ], environment: ["HOME": dir.path], directory: dir.path)
        }
        // The daemon's own log too: a server that stopped answering says why there (a trap's backtrace).
        #expect(run.status == 0, "the fuzzer (seed \(seed)) found what the document does not say:\n\(run.stdoutText.suffix(12_000))\n\(run.stderr.suffix(2_000))\nthe daemon's log:\n\(daemon.output.suffix(4_000))")
        #expect(run.stdoutText.contains("passed"), "\(run.stdoutText.suffix(2_000))")
    }
}
