import Foundation

/// A real HTTP receiver of webhooks in its own process (`receiver.py` under
/// Tests/SpoolServerTests/Webhooks): it verifies each message with the PyPI `standardwebhooks`
/// package and logs what it saw, so tests check Spool's signatures against a verifier nobody
/// here wrote. It can be stopped and started again on the same port, as a receiver that is
/// down for a while.
/// `@unchecked Sendable`: `Process` is not Sendable; a test starts and stops it from one task.
public final class WebhookReceiver: @unchecked Sendable {
    /// One message as the receiver saw it.
    public struct Entry: Decodable, Sendable, Hashable {
        public var path: String
        public var id: String?
        public var timestamp: String?
        public var verified: Bool
        public var type: String?
        public var job: String?
        public var state: String?
        public var error: String?
        /// The status it answered.
        public var answered: Int
        /// The video's worst seam, as the payload's job gave it (`data.quality.seamWorst`).
        public var seamWorst: Double?
    }

    public let script: String
    public let secretFile: String
    public let log: String
    public let failFirst: Int
    public private(set) var port = 0
    private var process: Process?

    public init(script: String, secretFile: String, log: String, failFirst: Int = 0) {
        self.script = script
        self.secretFile = secretFile
        self.log = log
        self.failFirst = failFirst
    }

    /// Starts it (on its previous port, when it ran before) and returns once it listens.
    public func start() throws {
        guard let python = PythonTools.python else { throw ProbeError(message: "no Python environment: run scripts/setup-python.sh") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--secret-file", secretFile, "--log", log, "--port", String(port), "--fail-first", String(failFirst)]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        self.process = process
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { throw ProbeError(message: "the webhook receiver exited before it listened") }
            if byte == Data("\n".utf8) { break }
            line += byte
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).split(separator: " ").last ?? "") else {
            throw ProbeError(message: "the webhook receiver said \(String(decoding: line, as: UTF8.self))")
        }
        self.port = port
    }

    /// Stops it; messages sent until it starts again find nobody listening.
    public func stop() {
        process?.terminateAndWait()
        process = nil
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Every message it has seen, in order.
    public var entries: [Entry] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? decoder.decode(Entry.self, from: Data($0.utf8)) }
    }
}
