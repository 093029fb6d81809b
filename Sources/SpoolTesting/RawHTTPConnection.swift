#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One HTTP/1.1 connection on a plain socket, for what an HTTP client library hides:
/// several requests sent in one write (pipelining) and the exact bytes of each answer.
/// `@unchecked Sendable`: used by one task at a time (its read buffer is unguarded).
public final class RawHTTPConnection: @unchecked Sendable {
    /// One answer, as it came off the wire.
    public struct Answer: Sendable {
        public var status: Int
        /// Header lines in the order sent, names as written.
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    private let fd: Int32
    private var buffered: [UInt8] = []

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        // A read waits for the server until only a hang would keep it waiting: 10 s once ran
        // out under a full suite's load (the server in the test process answered later).
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    /// Writes `text` (one or more requests) in a single `send`.
    public func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw POSIXError(.EPIPE) }
    }

    /// Sends one GET and reads its answer.
    public func get(_ path: String, headers: String = "") throws -> Answer {
        try send("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\(headers)\r\n")
        guard let answer = try answer() else { throw ProbeError(message: "the server closed the connection") }
        return answer
    }

    /// Sends one POST of a JSON body and reads its answer.
    public func post(_ path: String, json: String, headers: String = "") throws -> Answer {
        let body = Array(json.utf8)
        try send("POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\(headers)\r\n\(json)")
        guard let answer = try answer() else { throw ProbeError(message: "the server closed the connection") }
        return answer
    }

    /// Reads the next answer (Content-Length framing), or nil once the server has closed.
    public func answer() throws -> Answer? {
        guard let (status, headers) = try head() else { return nil }
        let length = Int(headers.first { $0.0.lowercased() == "content-length" }?.1 ?? "0") ?? 0
        guard let body = try take(length) else { return nil }
        return Answer(status: status, headers: headers, body: body)
    }

    /// Reads the head of the next answer: its status and headers; nil once the server has closed.
    public func head() throws -> (status: Int, headers: [(name: String, value: String)])? {
        while true {
            if let end = headerEnd() {
                let lines = String(decoding: buffered[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                buffered.removeFirst(end + 4)
                let status = Int(lines[0].split(separator: " ")[1]) ?? 0
                let headers = lines.dropFirst().compactMap { line -> (String, String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                return (status, headers)
            }
            guard try fill() else { return nil }
        }
    }

    /// The next piece of a `Transfer-Encoding: chunked` body; nil after its last.
    public func nextChunk() throws -> [UInt8]? {
        guard let sizeLine = try line(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { return nil }
        if size == 0 {
            _ = try line()
            return nil
        }
        guard let data = try take(size) else { return nil }
        _ = try take(2)
        return data
    }

    /// Whether the server has closed the connection (what it sent before is left unread).
    public var isClosedByServer: Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// Sets how long a read may wait for the server before it throws.
    public func setReadTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    private func line() throws -> String? {
        while true {
            if buffered.count >= 2, let i = (0..<(buffered.count - 1)).first(where: { buffered[$0] == 13 && buffered[$0 + 1] == 10 }) {
                let text = String(decoding: buffered[..<i], as: UTF8.self)
                buffered.removeFirst(i + 2)
                return text
            }
            guard try fill() else { return nil }
        }
    }

    private func take(_ count: Int) throws -> [UInt8]? {
        while buffered.count < count {
            guard try fill() else { return nil }
        }
        let bytes = Array(buffered[..<count])
        buffered.removeFirst(count)
        return bytes
    }

    /// Reads what the server sent next; false once it has closed.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return false }
        guard n > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        buffered += chunk[0..<n]
        return true
    }

    private func headerEnd() -> Int? {
        guard buffered.count >= 4 else { return nil }
        for i in 0...(buffered.count - 4)
        where buffered[i] == 13 && buffered[i + 1] == 10 && buffered[i + 2] == 13 && buffered[i + 3] == 10 {
            return i
        }
        return nil
    }
}
