import Foundation
import SpoolGenerators

/// A real `spool serve` process with its output in a log file, for tests that need the
/// daemon as users run it.
/// `@unchecked Sendable`: `Process` is not Sendable; its state is the kernel's, and `Process`
/// locks its own.
public final class DaemonProcess: @unchecked Sendable {
    /// The built `spool` binary.
    public static let binary = WorkerLauncher.defaultBinDirectory + "/spool"

    public let process = Process()
    public let log: String

    /// Starts `spool serve ARGUMENTS`, its output appended to `log`; `environment` adds to ours.
    public init(arguments: [String], log: String, environment: [String: String] = [:]) throws {
        self.log = log
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve"] + arguments
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try process.run()
    }

    /// A daemon as most end-to-end tests want one: data in `dir/data`, one CPU slot, the
    /// pipelines in `pipelines`, x264's fastest preset, a free port, no drop folder; `extra`
    /// arguments after those, its log in `dir/<log>` (a restarted daemon gets a log of its own).
    public static func onOneSlot(
        _ dir: TemporaryDirectory, pipelines: String, _ extra: [String] = [], environment: [String: String] = [:],
        log: String = "daemon.log"
    ) throws -> DaemonProcess {
        try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "1", "--pipelines", pipelines,
                "--preset", "ultrafast", "--listen", "127.0.0.1:0", "--no-drop-folder",
            ] + extra,
            log: dir.file(log), environment: environment)
    }

    public var pid: Int32 { process.processIdentifier }

    /// What the daemon has logged so far.
    public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text`. The deadline only catches a hang: 60 s, as ``until``'s.
    /// At 20 s it ran out once while a loaded 2-core machine held a daemon 24 s between binding its
    /// port and saying so.
    public func waitForLog(_ text: String, timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !output.contains(text) {
            guard process.isRunning else { throw ProbeError(message: "the daemon exited (\(process.terminationStatus)): \(output.suffix(3_000))") }
            guard Date() < deadline else { throw ProbeError(message: "the daemon never logged \"\(text)\": \(output.suffix(3_000))") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Where its HTTP API listens (`http://127.0.0.1:PORT`), once it has said so in its log.
    public func httpURL() async throws -> String {
        try await waitForLog("HTTP API on http://")
        let text = output
        guard let range = text.range(of: #"http://[0-9.]+:[0-9]+"#, options: .regularExpression,
                                     range: text.range(of: "HTTP API on ")!.upperBound..<text.endIndex)
        else { throw ProbeError(message: "no address in the daemon's log: \(text.suffix(1_000))") }
        return String(text[range])
    }

    /// The port its HTTP API listens on, once it has said so in its log.
    public func httpPort() async throws -> Int {
        let url = try await httpURL()
        guard let port = Int(url.split(separator: ":").last ?? "") else { throw ProbeError(message: "no port in \(url)") }
        return port
    }

    /// Sends `signal` and returns at once.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// SIGKILL, as a crash or the OOM killer would.
    public func kill9() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then SIGKILL after `timeout`; true if it stopped on SIGTERM.
    @discardableResult
    public func stop(timeout: Double = 15) -> Bool {
        process.terminateAndWait(timeout: timeout)
    }
}
