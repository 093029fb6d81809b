import Foundation
import Logging
import PostgresNIO
import SpoolPostgres

/// The PostgreSQL server the tests use, named by `$SPOOL_TEST_POSTGRES` (a URL such as
/// `postgres://spool@127.0.0.1:54329/postgres`, which `scripts/test.sh` sets after starting
/// a throwaway server). Every test gets a database of its own, dropped afterwards.
public enum PostgresTestServer {
    /// The server's URL, or nil when none was given.
    public static var url: String? {
        ProcessInfo.processInfo.environment["SPOOL_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `$SPOOL_REQUIRE_POSTGRES=1` (CI sets it): a missing server fails the tests instead of skipping them.
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["SPOOL_REQUIRE_POSTGRES"] == "1" }

    /// Whether PostgreSQL tests run; prints why not, once, when they are skipped.
    public static let isAvailable: Bool = {
        if url != nil || isRequired { return true }
        print("note: PostgreSQL store tests skipped: SPOOL_TEST_POSTGRES is not set (scripts/test.sh starts a throwaway server when PostgreSQL is installed)")
        return false
    }()

    /// Creates an empty database and returns its address.
    public static func createDatabase() async throws -> PostgresStoreAddress {
        guard let url else {
            throw ProbeError(message: "SPOOL_REQUIRE_POSTGRES=1 but SPOOL_TEST_POSTGRES names no server; run scripts/postgres-test-server.sh start")
        }
        var address = try PostgresStoreAddress(url: url)
        let name = "spool_test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try await admin(address) { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        address.database = name
        return address
    }

    /// Drops a database made by ``createDatabase()``, disconnecting whoever is still on it.
    public static func dropDatabase(_ address: PostgresStoreAddress) async {
        guard let url, var server = try? PostgresStoreAddress(url: url) else { return }
        server.tls = address.tls
        try? await admin(server) { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(address.database) WITH (FORCE)"), logger: logger)
        }
    }

    /// The test server's log: `server.log` beside its data directory, where
    /// `scripts/postgres-test-server.sh` starts it.
    public static func serverLog() async throws -> String {
        guard let url else { throw ProbeError(message: "SPOOL_TEST_POSTGRES names no server") }
        var dataDirectory = ""
        try await admin(try PostgresStoreAddress(url: url)) { connection, logger in
            for try await (value) in try await connection.query("SELECT current_setting('data_directory')", logger: logger).decode(String.self) {
                dataDirectory = value
            }
        }
        let log = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().appendingPathComponent("server.log").path
        guard FileManager.default.isReadableFile(atPath: log) else {
            throw ProbeError(message: "no server log at \(log): start the server with scripts/postgres-test-server.sh")
        }
        return log
    }

    /// From now on, every new connection to `database` writes the plan of each statement it
    /// runs to the server's log (`auto_explain`, shipped with PostgreSQL), those run inside a
    /// function or trigger (the heartbeat's, the wake-up's) too.
    public static func explainEveryStatement(in database: String) async throws {
        guard let url else { throw ProbeError(message: "SPOOL_TEST_POSTGRES names no server") }
        try await admin(try PostgresStoreAddress(url: url)) { connection, logger in
            for setting in [
                "session_preload_libraries = 'auto_explain'", "auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on",
            ] {
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(database) SET \(setting)"), logger: logger)
            }
        }
    }

    private static func admin(_ address: PostgresStoreAddress, _ body: (PostgresConnection, Logger) async throws -> Void) async throws {
        let logger = Logger(label: "spool.test.postgres")
        let configuration = PostgresConnection.Configuration(
            host: address.host, port: address.port, username: address.user, password: address.password,
            database: address.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await body(connection, logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}
