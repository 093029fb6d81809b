import Foundation

/// A PostgreSQL server of one test's own, on a free loopback port, that the test may crash
/// and start again (a shared queue's outage) without touching the server other tests use.
/// Started and stopped through `scripts/postgres-test-server.sh`, as CI starts the shared one.
public final class PrivatePostgresServer: Sendable {
    public let folder: String
    public let port: Int
    /// `postgres://spool@127.0.0.1:PORT/postgres?sslmode=disable`.
    public let url: String

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres-test-server.sh").path

    /// Creates the cluster and starts the server.
    public init() throws {
        // Under /tmp itself: when the tests run as root the server runs as `postgres`, which
        // must reach its folder.
        folder = "/tmp/spool-pg-private-" + UUID().uuidString.prefix(8).lowercased()
        port = try Self.freePort()
        url = "postgres://spool@127.0.0.1:\(port)/postgres?sslmode=disable"
        try start()
    }

    /// Starts the server (after ``crash()``, PostgreSQL recovers from its write-ahead log).
    public func start() throws { try run("start") }

    /// Stops the server the way a crash does: `pg_ctl -m immediate`, every connection cut,
    /// no shutdown checkpoint.
    public func crash() throws { try run("crash") }

    /// Stops the server and removes its files.
    public func remove() {
        try? run("stop")
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func run(_ command: String) throws {
        // posix_spawn and waitpid, not Foundation's Process: the server the script starts in
        // the background inherits descriptors Process watches, and Process would wait for it.
        let log = folder + ".\(command).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let line = "SPOOL_PG_DIR='\(folder)' SPOOL_PG_PORT=\(port) bash '\(Self.script)' \(command) >'\(log)' 2>&1 </dev/null"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [String]( ["/bin/sh", "-c", line]).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ)
        guard spawned == 0 else { throw ProbeError(message: "could not run postgres-test-server.sh: errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw ProbeError(message: "postgres-test-server.sh \(command) failed (status \(status)): \(text)")
        }
    }

    /// A TCP port nothing listens on now: bound to port 0, read back, closed.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProbeError(message: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ProbeError(message: "could not find a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
