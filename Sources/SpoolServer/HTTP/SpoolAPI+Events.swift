import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import SpoolAPIModel
import SpoolCore
import SpoolScheduler

extension SpoolAPI {
    /// What a job's event stream writes next.
    private enum StreamItem: Sendable {
        case event(JobEvent)
        /// Nothing happened for a while: a comment line, which finds a client that has gone.
        case keepAlive
        /// The host is shutting down: a last event, and the stream ends.
        case shutdown
    }

    /// Server-sent events: the job's current state at once, then each state change and
    /// chunk, closing after a final state.
    ///
    /// A long-lived response must end by itself, or it holds its connection and SIGTERM with it
    /// (Hummingbird's graceful shutdown waits for every response in progress; issue 34):
    /// - every `eventKeepAlive` seconds without an event it writes `: keep-alive`; writing to a
    ///   client that has gone fails, which ends the stream and closes the connection;
    /// - on graceful shutdown (the dispatcher has drained by then: the HTTP door stops after it)
    ///   it writes a `shutdown` event and ends. A client too slow to take even that is cut by the
    ///   service group's bound on the whole shutdown (``SpoolHost/run(with:logger:)``).
    func events(_ context: Context) async throws -> Response {
        let id = try jobID(context)
        // Subscribe before reading the snapshot, so no change falls between the two.
        let stream = host.events.subscribe(job: id)
        let operations = operations(context)
        let snapshot = try await found { try await operations.job(id) }
        let keepAlive = configuration.eventKeepAlive
        let open = metrics.eventStreams
        let body = ResponseBody { writer in
            open.opened()
            defer { open.closed() }
            try await writer.write(ByteBuffer(string: Self.sse("state", JobResource(snapshot))))
            if snapshot.state.isFinal {
                try await writer.finish(nil)
                return
            }
            let (items, continuation) = AsyncStream<StreamItem>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in stream { continuation.yield(.event(event)) }
                    continuation.finish()
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: .seconds(keepAlive))
                        continuation.yield(.keepAlive)
                    }
                }
                defer { group.cancelAll() }
                try await withGracefulShutdownHandler {
                    loop: for await item in items {
                        switch item {
                        case .event(let event):
                            switch event.kind {
                            case .state(let state):
                                let position = state == .queued ? try? await operations.queuePosition(of: id) : nil
                                try await writer.write(ByteBuffer(string: Self.sse("state", JobResource(event.job, queuePosition: position))))
                                if state.isFinal { break loop }
                            case .chunk(let index):
                                let progress = JobResource(event.job).progress
                                try await writer.write(ByteBuffer(string: try Self.sse("chunk", ChunkEvent(index: index, progress: progress))))
                            case .encoded(let frames):
                                try await writer.write(ByteBuffer(string: try Self.sse("encoded", EncodedEvent(framesEncoded: frames))))
                            }
                        case .keepAlive:
                            try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        case .shutdown:
                            try await writer.write(ByteBuffer(string: try Self.sse("shutdown", ShutdownEvent(job: id.rawValue))))
                            break loop
                        }
                    }
                } onGracefulShutdown: {
                    continuation.yield(.shutdown)
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body)
    }

    struct ShutdownEvent: Encodable {
        var job: String
        var message = "this host is shutting down; the job goes on (follow it again on another host, or once this one is back)"
    }
}
