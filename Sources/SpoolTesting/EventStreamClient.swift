import Foundation

/// Follows a server-sent event stream (`GET /v1/jobs/{id}/events`) over a raw connection,
/// one event at a time as they arrive, so a test can act between them.
/// Used from one thread at a time (a test hands it from its task to a thread and back).
public final class EventStreamClient: @unchecked Sendable {
    public struct Event: Sendable, Hashable {
        public var name: String
        public var data: String

        /// The data as a JSON object.
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]) ?? [:]
        }
    }

    private let connection: RawHTTPConnection
    public let status: Int
    private var text = ""
    private var ended = false
    /// Comment blocks (`: keep-alive`) read so far.
    public private(set) var keepAlives = 0

    /// Opens the stream; `status` is the answer's status (200 for a stream).
    public init(port: Int, path: String, headers: String = "", readTimeout: Int = 120) throws {
        connection = try RawHTTPConnection(port: port)
        connection.setReadTimeout(seconds: readTimeout)
        try connection.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\(headers)\r\n")
        guard let (status, _) = try connection.head() else { throw ProbeError(message: "the server closed the connection") }
        self.status = status
    }

    /// The next event, or nil once the server has ended the stream.
    public func next() throws -> Event? {
        while true {
            if let end = text.range(of: "\n\n") {
                let block = text[..<end.lowerBound]
                text.removeSubrange(..<end.upperBound)
                var name = "message"
                var data: [String] = []
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
                }
                // A block of comments alone (`: keep-alive`) is no event, as for a browser.
                if data.isEmpty && name == "message" {
                    keepAlives += 1
                    continue
                }
                return Event(name: name, data: data.joined(separator: "\n"))
            }
            guard !ended, let chunk = try connection.nextChunk() else {
                ended = true
                return nil
            }
            text += String(decoding: chunk, as: UTF8.self)
        }
    }

    /// Every event until the stream ends.
    public func rest() throws -> [Event] {
        var events: [Event] = []
        while let event = try next() { events.append(event) }
        return events
    }
}
