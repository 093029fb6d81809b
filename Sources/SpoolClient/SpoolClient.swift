import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolCore

/// Talks to a Spool daemon's HTTP API.
public struct SpoolClient: Sendable {
    public let server: URL
    public let token: String?
    private let session: URLSession

    /// `$SPOOL_SERVER`, else the daemon's default address.
    public static var defaultServer: String {
        ProcessInfo.processInfo.environment["SPOOL_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8750"
    }

    public init(server: URL, token: String? = nil) {
        self.server = server
        self.token = token
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
    }

    public func submit(_ spec: JobSpec) async throws(ClientError) -> (job: JobResource, created: Bool) {
        let body: Data
        do { body = try JSONEncoder.spoolAPI.encode(spec) } catch { throw .invalidResponse("cannot encode the job: \(error)") }
        let (data, status) = try await send("POST", "/v1/jobs", body: body)
        return (try decode(JobResource.self, data), status == 201)
    }

    public func job(_ id: String) async throws(ClientError) -> JobResource {
        try decode(JobResource.self, try await send("GET", "/v1/jobs/\(escape(id))").data)
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

    private func send(_ method: String, _ path: String, body: Data? = nil) async throws(ClientError) -> (data: Data, status: Int) {
        guard let url = URL(string: server.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path) else {
            throw .invalidResponse("bad URL \(server)\(path)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw .unreachable(server: server.absoluteString, reason: error.localizedDescription)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let payload = try? JSONDecoder().decode(ErrorPayload.self, from: data)
            throw .api(
                status: status, code: payload?.error.code ?? "http_\(status)",
                message: payload?.error.message ?? String(decoding: data.prefix(500), as: UTF8.self),
                issues: payload?.error.issues ?? [])
        }
        return (data, status)
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
