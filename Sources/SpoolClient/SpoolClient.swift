import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import SpoolAPIModel
import SpoolCore

/// Talks to a Spool daemon's HTTP API.
public struct SpoolClient: Sendable {
    public let server: URL
    public let token: String?

    /// `$SPOOL_SERVER`, else the daemon's default address.
    public static var defaultServer: String {
        ProcessInfo.processInfo.environment["SPOOL_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8750"
    }

    public init(server: URL, token: String? = nil) {
        self.server = server
        self.token = token
    }

    public func submit(_ spec: JobSpec) async throws(ClientError) -> (job: JobResource, created: Bool) {
        let body: Data
        do { body = try JSONEncoder.spoolAPI.encode(spec) } catch { throw .invalidResponse("cannot encode the job: \(error)") }
        let (data, status) = try await send("POST", "/v1/jobs", body: body)
        return (try decode(JobResource.self, data), status == 201)
    }

    /// Submits a job with files: `files` maps each input field (`image`, `video`) to a local
    /// file, sent as a part of a `multipart/form-data` request beside the job's JSON. The
    /// body is assembled in a scratch file and streamed from there, never held in memory.
    public func submit(_ spec: JobSpec, files: [JobInput.Kind: URL]) async throws(ClientError) -> (job: JobResource, created: Bool) {
        guard !files.isEmpty else { return try await submit(spec) }
        let boundary = "spool-" + UUID().uuidString
        let bodyFile = FileManager.default.temporaryDirectory.appendingPathComponent("spool-submit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: bodyFile) }
        do {
            guard FileManager.default.createFile(atPath: bodyFile.path, contents: nil),
                  let out = FileHandle(forWritingAtPath: bodyFile.path) else {
                throw ClientError.invalidResponse("cannot write a scratch file in \(FileManager.default.temporaryDirectory.path)")
            }
            defer { try? out.close() }
            func text(_ string: String) throws { try out.write(contentsOf: Data(string.utf8)) }
            try text("--\(boundary)\r\nContent-Disposition: form-data; name=\"job\"\r\nContent-Type: application/json\r\n\r\n")
            try out.write(contentsOf: try JSONEncoder.spoolAPI.encode(spec))
            for (kind, url) in files.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                guard let input = FileHandle(forReadingAtPath: url.path) else {
                    throw ClientError.invalidResponse("cannot read \(url.path)")
                }
                defer { try? input.close() }
                let name = url.lastPathComponent.replacingOccurrences(of: "\"", with: "_")
                try text("\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"\(kind.rawValue)\"; filename=\"\(name)\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try out.write(contentsOf: chunk) }
            }
            try text("\r\n--\(boundary)--\r\n")
        } catch let error as ClientError {
            throw error
        } catch {
            throw .invalidResponse("cannot assemble the upload: \(error)")
        }
        let (data, status) = try await send("POST", "/v1/jobs", bodyFile: bodyFile, contentType: "multipart/form-data; boundary=\(boundary)")
        return (try decode(JobResource.self, data), status == 201)
    }

    public func job(_ id: String) async throws(ClientError) -> JobResource {
        try decode(JobResource.self, try await send("GET", "/v1/jobs/\(escape(id))").data)
    }

    /// The job's poster: its first frame, a PNG (once it succeeded).
    public func poster(_ id: String) async throws(ClientError) -> Data {
        try await send("GET", "/v1/jobs/\(escape(id))/poster").data
    }

    /// Every attempt at the job, oldest first.
    public func attempts(_ id: String) async throws(ClientError) -> AttemptList {
        try decode(AttemptList.self, try await send("GET", "/v1/jobs/\(escape(id))/attempts").data)
    }

    /// The job's webhook deliveries and every try of each.
    public func webhooks(_ id: String) async throws(ClientError) -> WebhookDeliveryList {
        try decode(WebhookDeliveryList.self, try await send("GET", "/v1/jobs/\(escape(id))/webhooks").data)
    }

    public func list(states: [JobState] = [], limit: Int = 50, cursor: String? = nil) async throws(ClientError) -> JobList {
        var query: [String] = ["limit=\(limit)"]
        if !states.isEmpty { query.append("state=" + states.map(\.rawValue).joined(separator: ",")) }
        if let cursor { query.append("cursor=\(escape(cursor))") }
        return try decode(JobList.self, try await send("GET", "/v1/jobs?" + query.joined(separator: "&")).data)
    }

    public func cancel(_ id: String) async throws(ClientError) -> JobResource {
        try decode(JobResource.self, try await send("DELETE", "/v1/jobs/\(escape(id))").data)
    }

    public func gpus() async throws(ClientError) -> GPUList {
        try decode(GPUList.self, try await send("GET", "/v1/gpus").data)
    }

    /// The tenants' use of the pool over the last day: the token's own tenant, or every
    /// tenant for an admin's.
    public func usage() async throws(ClientError) -> UsageReport {
        try decode(UsageReport.self, try await send("GET", "/v1/usage").data)
    }

    /// Polls a job until it reaches a final state, calling `update` whenever it changed.
    public func follow(
        _ id: String, interval: Duration = .milliseconds(250), update: (JobResource) -> Void
    ) async throws(ClientError) -> JobResource {
        var last: JobResource?
        while true {
            let job = try await job(id)
            if job != last { update(job) }
            last = job
            if job.state.isFinal { return job }
            try? await Task.sleep(for: interval)
        }
    }

    // MARK: Transport

    /// The longest answer read: a page of a thousand jobs is about 2 MB, a poster a few.
    static let maxResponseBytes = 256 << 20

    /// One HTTP client for the process, never shut down (it lives as long as the process). A
    /// daemon that is not running is said at once: the connection is not retried until the
    /// request's deadline, as a long-lived service's client would.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }()

    private func send(
        _ method: String, _ path: String, body: Data? = nil, bodyFile: URL? = nil, contentType: String = "application/json"
    ) async throws(ClientError) -> (data: Data, status: Int) {
        let url = server.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path
        guard URL(string: url) != nil else { throw .invalidResponse("bad URL \(server)\(path)") }
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        if body != nil || bodyFile != nil { request.headers.add(name: "Content-Type", value: contentType) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        var timeout = TimeAmount.seconds(30)
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        } else if let bodyFile {
            // Uploads take as long as their size needs, streamed from the file, never held whole.
            guard let size = (try? FileManager.default.attributesOfItem(atPath: bodyFile.path))?[.size] as? Int,
                  let handle = FileHandle(forReadingAtPath: bodyFile.path)
            else { throw .invalidResponse("cannot read \(bodyFile.path)") }
            request.body = .stream(FileChunks(handle: handle), length: .known(Int64(size)))
            timeout = .hours(1)
        }
        let data: Data
        let status: Int
        do {
            let response = try await Self.http.execute(request, timeout: timeout)
            status = Int(response.status.code)
            data = Data(buffer: try await response.body.collect(upTo: Self.maxResponseBytes))
        } catch {
            throw .unreachable(server: server.absoluteString, reason: Self.reason(error))
        }
        guard (200..<300).contains(status) else {
            let payload = try? JSONDecoder().decode(ErrorPayload.self, from: data)
            throw .api(
                status: status, code: payload?.error.code ?? "http_\(status)",
                message: payload?.error.message ?? String(decoding: data.prefix(500), as: UTF8.self),
                issues: payload?.error.issues ?? [])
        }
        return (data, status)
    }

    /// An error from the connection, in words.
    static func reason(_ error: any Error) -> String {
        var error = error
        if let connect = error as? NIOConnectionError, let first = connect.connectionErrors.first { error = first.error }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(ClientError) -> T {
        do { return try JSONDecoder.spoolAPI.decode(type, from: data) } catch {
            throw .invalidResponse("the daemon's answer could not be read: \(error)")
        }
    }

    private func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? text
    }

    private struct ErrorPayload: Decodable {
        struct Detail: Decodable {
            var code: String
            var message: String
            var issues: [ValidationIssue]?
        }
        var error: Detail
    }
}

/// What went wrong talking to the daemon.
public enum ClientError: Error, CustomStringConvertible, Sendable {
    case unreachable(server: String, reason: String)
    case api(status: Int, code: String, message: String, issues: [ValidationIssue])
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .unreachable(let server, let reason):
            "cannot reach the Spool daemon at \(server) (\(reason)). Is it running? Start it with `spool serve`, or point --server / SPOOL_SERVER at it."
        case .api(_, _, let message, let issues):
            issues.isEmpty ? message : message + "\n" + issues.map { "  \($0.field): \($0.reason)" }.joined(separator: "\n")
        case .invalidResponse(let message):
            message
        }
    }
}

/// A file's bytes, a megabyte at a time, for an upload.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let handle: FileHandle

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty else {
                try? handle.close()
                return nil
            }
            return ByteBuffer(data: chunk)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }
}
