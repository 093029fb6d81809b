import NIOCore

/// How the HTTP API listens and whom it lets in.
public struct HTTPServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int
    /// The host's own token: every job, no limits. This or ``tenants`` is required for
    /// anything but a loopback address.
    public var token: String?
    /// The tenants' tokens (`--tokens`), read again on SIGHUP.
    public var tenants: TenantDirectory?
    /// Largest accepted request body.
    public var maxBodyBytes: Int
    /// Answer `GET /v1/jobs/{id}` in the channel pipeline when the store reads synchronously
    /// (see `JobPollHandler`); false sends every request through the router.
    public var answersPollsInPipeline: Bool
    /// Seconds a connection may take to send a whole request head (from opening, or
    /// between the pieces of a request); past it the connection is closed. nginx's
    /// `client_header_timeout` is 60.
    public var requestHeadTimeout: Double
    /// Seconds a connection may sit idle between requests; nginx's `keepalive_timeout` is 75.
    /// Responses in progress (server-sent event streams) are never timed out.
    public var keepAliveTimeout: Double
    /// Seconds between the comment lines (`: keep-alive`) an event stream writes while its
    /// job has nothing to say. A write is what finds a client that has gone (its connection
    /// is then closed); without one, a queued job's stream held its connection and a task for
    /// as long as the job waited, and SIGTERM waited for it (issue 34).
    public var eventKeepAlive: Double

    public static let defaultPort = 8750
    public static let defaultEventKeepAlive = 15.0
    public static let defaultRequestHeadTimeout = 60.0
    public static let defaultKeepAliveTimeout = 75.0

    public init(
        host: String = "127.0.0.1", port: Int = HTTPServerConfiguration.defaultPort, token: String? = nil,
        tenants: TenantDirectory? = nil, maxBodyBytes: Int = 64 * 1024, answersPollsInPipeline: Bool = true,
        requestHeadTimeout: Double = HTTPServerConfiguration.defaultRequestHeadTimeout,
        keepAliveTimeout: Double = HTTPServerConfiguration.defaultKeepAliveTimeout,
        eventKeepAlive: Double = HTTPServerConfiguration.defaultEventKeepAlive
    ) {
        self.host = host
        self.port = port
        self.token = token
        self.tenants = tenants
        self.maxBodyBytes = maxBodyBytes
        self.answersPollsInPipeline = answersPollsInPipeline
        self.requestHeadTimeout = requestHeadTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.eventKeepAlive = eventKeepAlive
    }

    /// Parses `HOST:PORT`, `[::1]:PORT` or `:PORT`.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()) else { return nil }
            return (host, port)
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            return nil
        }
        let host = String(text[..<colon])
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// Who may use the API, or nil when authentication is off (no token and no tenants).
    var access: Access? {
        Access(hostToken: token, tenants: tenants)
    }

    /// Whether `host` is only reachable from this machine.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Why this configuration must not start, if so.
    public var problem: String? {
        if !isLoopback && access == nil {
            return "listening on \(host) reaches beyond this machine; pass --token-file with a bearer token, or --tokens, first"
        }
        if !(requestHeadTimeout > 0) || !(keepAliveTimeout > 0) {
            return "--request-head-timeout and --keep-alive-timeout take seconds greater than 0"
        }
        if !(eventKeepAlive > 0) { return "--event-keep-alive takes seconds greater than 0" }
        return nil
    }

    var deadlines: ConnectionDeadlines.Timeouts {
        .init(requestHead: .nanoseconds(Int64(requestHeadTimeout * 1e9)), keepAlive: .nanoseconds(Int64(keepAliveTimeout * 1e9)))
    }
}
