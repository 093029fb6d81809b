import Foundation
import NIOSSL
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=…&pool=…` URL, checked.
public struct PostgresStoreAddress: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Most connections this process opens.
    public var poolSize: Int

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .prefer, poolSize: Int = 16) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.poolSize = poolSize
    }

    /// Parses a URL; the error says which part is wrong.
    public init(url text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql"
        else {
            throw PostgresStoreError("a PostgreSQL store is a URL such as postgres://spool@db.example:5432/spool, not \(text)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw PostgresStoreError("the store URL \(Self.redacted(text)) names no host")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else {
            throw PostgresStoreError("the store URL \(Self.redacted(text)) names no database (postgres://user@host:port/DATABASE)")
        }
        var tls = TLSMode.prefer
        var poolSize = 16
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw PostgresStoreError("sslmode takes disable, prefer or require, not \(item.value ?? "nothing")")
                }
                tls = mode
            case "pool":
                guard let size = item.value.flatMap(Int.init), (1...200).contains(size) else {
                    throw PostgresStoreError("pool takes a connection count from 1 to 200, not \(item.value ?? "nothing")")
                }
                poolSize = size
            default:
                throw PostgresStoreError("the store URL has an unknown parameter \(item.name); known: sslmode, pool")
            }
        }
        self.init(
            host: host, port: components.port ?? 5432,
            user: components.user ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres",
            password: components.password, database: database, tls: tls, poolSize: poolSize)
    }

    /// The URL, password included, as `--store` takes it.
    public var url: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        components.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue), URLQueryItem(name: "pool", value: String(poolSize))]
        return components.string!
    }

    /// The URL without its password, for logs and messages.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let mode: PostgresConnection.Configuration.TLS = switch tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    var clientConfiguration: PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS = switch tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

/// A PostgreSQL store problem, in words a person can act on.
public struct PostgresStoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
