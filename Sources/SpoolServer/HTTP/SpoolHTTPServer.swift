import Hummingbird
import Logging
import NIOCore
import SpoolCore
import SpoolScheduler

/// Builds the HTTP server as a service for the host's ``ServiceGroup``.
public enum SpoolHTTPServer {
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public static func make(
        host: SpoolHost, metrics: SpoolMetrics, configuration: HTTPServerConfiguration, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        if let problem = configuration.problem { throw HTTPConfigurationError(description: problem) }
        let api = SpoolAPI(host: host, metrics: metrics, configuration: configuration)
        let serverName = "spool"
        // Polls are answered in the pipeline when the store can read without suspending (SQLite).
        let pollStore = configuration.answersPollsInPipeline ? host.store.synchronousReads : nil
        let deadlines = configuration.deadlines
        return Application(
            router: api.router(),
            // Deadlines first, next to the codec: they see every request and every answer,
            // the poll handler's included.
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionDeadlines(timeouts: deadlines)] + (pollStore.map {
                [JobPollHandler(operations: host.operations, reader: $0, access: configuration.access, serverName: serverName)]
            } ?? []))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: serverName),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}

public struct HTTPConfigurationError: Error, CustomStringConvertible {
    public var description: String
}
