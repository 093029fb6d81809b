import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Every `LISTEN` of a store on one pooled connection (issue 33).
///
/// PostgreSQL signals each listening backend of a database at every commit that notifies,
/// whatever channel it listens on: 200 idle listeners cost the server 2.0 ms of CPU per
/// notifying commit, against 5 µs with none (PostgreSQL 15, measured on this machine). A host
/// listens for its wake-ups and for other hosts' job changes; on one connection that is one
/// listener per host instead of two, and one connection fewer from its pool.
///
/// A lost connection is established again after a second; each handler is then called with
/// nil (it listens again, and anything sent meanwhile was missed), as when it first listens.
final class NotificationListener: Sendable {
    struct ListeningEnded: Error, CustomStringConvertible {
        var description: String { "the listening connection stopped delivering notifications" }
    }

    typealias Handler = @Sendable (String?) -> Void

    private struct State {
        var handlers: [UUID: (channel: String, handle: Handler)] = [:]
        /// Channels to add on the live connection, once one is open.
        var requests: AsyncStream<String>.Continuation?
        /// Channels the live connection listens on.
        var listening: Set<String> = []
        var task: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Calls `handle` with nil once `channel` is listened on, then with each payload, until
    /// ``remove(_:)``.
    func add(_ channel: String, _ handle: @escaping Handler) -> UUID {
        let id = UUID()
        let listeningAlready = state.withLock { state -> Bool in
            state.handlers[id] = (channel, handle)
            if state.task == nil {
                state.task = Task { await self.run() }
                return false
            }
            if state.listening.contains(channel) { return true }
            state.requests?.yield(channel)
            return false
        }
        if listeningAlready { handle(nil) }
        return id
    }

    func remove(_ id: UUID) {
        let task = state.withLock { state -> Task<Void, Never>? in
            state.handlers[id] = nil
            guard state.handlers.isEmpty else { return nil }
            defer { state.task = nil; state.requests = nil; state.listening = [] }
            return state.task
        }
        task?.cancel()
    }

    private func handlers(of channel: String) -> [Handler] {
        state.withLock { state in state.handlers.values.filter { $0.channel == channel }.map(\.handle) }
    }

    private func run() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    let (requests, continuation) = AsyncStream.makeStream(of: String.self)
                    state.withLock { state in
                        state.requests = continuation
                        state.listening = []
                        for channel in Set(state.handlers.values.map(\.channel)) { continuation.yield(channel) }
                    }
                    defer { state.withLock { $0.requests = nil; $0.listening = [] } }
                    try await withThrowingDiscardingTaskGroup { group in
                        for await channel in requests {
                            guard state.withLock({ $0.listening.insert(channel).inserted }) else { continue }
                            group.addTask {
                                // However a channel's listening ends (the connection lost, most
                                // likely), the loop above ends too: the group's error alone
                                // would not end it, and the connection would be waited on for ever.
                                defer { continuation.finish() }
                                try await connection.listen(on: channel) { notifications in
                                    for handle in self.handlers(of: channel) { handle(nil) }
                                    for try await notification in notifications {
                                        for handle in self.handlers(of: channel) { handle(notification.payload) }
                                    }
                                }
                                throw ListeningEnded()
                            }
                        }
                        throw ListeningEnded()
                    }
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("listening for notifications failed; retrying in 1 s", metadata: ["error": "\(PostgresJobStore.explain(error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
