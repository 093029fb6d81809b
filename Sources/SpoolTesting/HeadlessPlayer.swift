import Foundation

/// `ffplay` playing a URL with SDL's dummy drivers (no screen, no sound card), as a person
/// would watch it, with how far it has played readable while it plays.
/// `@unchecked Sendable`: `Process` is not Sendable; the rest is immutable (progress is read
/// from the log file).
public final class HeadlessPlayer: @unchecked Sendable {
    public let url: String
    private let process = Process()
    private let log: String

    /// Starts playing `url`; `log` receives ffplay's status lines.
    public init(_ url: String, log: String) throws {
        self.url = url
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ffplay", "-v", "error", "-stats", "-autoexit", url]
        process.environment = ProcessInfo.processInfo.environment.merging(["SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"]) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
    }

    public static var available: Bool { (try? runProcess(["ffplay", "-version"]).status) == 0 }

    /// How far the player has played, in seconds: the master clock of its latest status line.
    public var playedSeconds: Double {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let lines = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" })
        return lines.reversed().lazy.compactMap { $0.split(separator: " ").first.flatMap { Double($0) } }.first ?? 0
    }

    /// What ffplay wrote, for a failure's message.
    public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    public var isRunning: Bool { process.isRunning }

    public func stop() { process.terminateAndWait(timeout: 5) }

    deinit { stop() }
}
