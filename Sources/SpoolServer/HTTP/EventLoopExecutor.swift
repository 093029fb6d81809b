import NIOCore
import NIOPosix

/// Runs Swift concurrency's global executor on the HTTP server's event loops.
///
/// Hummingbird reads a request on a NIO event loop and runs its handler in a task. With
/// Swift's default executor that task runs on a second pool of threads, so every request
/// crosses threads twice and wakes a thread each way. On two cores the four busy threads
/// (plus the load generator's) also take turns at the CPU, which is where a poll's tail
/// latency came from. With the event loops as the global executor a handler runs on the
/// thread that read its request. `GET /v1/jobs/{id}` while a 720p job encodes went from
/// 8,910 to 10,643–12,708 req/s (`scripts/bench-http.sh`, the same binary with and without).
///
/// What this asks of the daemon: no task may block its thread. The daemon keeps blocking
/// work on threads of its own already (the encoder, each worker's pipes and exit, the
/// SQLite writer, the drop folder's inotify reader); its tasks only await.
public enum EventLoopExecutor {
    /// The environment variable that keeps Swift's own executor when set to `0`.
    public static let environmentKey = "SPOOL_EVENT_LOOP_EXECUTOR"

    /// Installs NIO's singleton event-loop group (the one the HTTP server uses) as the
    /// global executor. Call it once, first thing, before the daemon starts any task.
    ///
    /// - Returns: whether it was installed: false when `environment` opts out or the Swift
    ///   runtime offers no hook, and the daemon then runs on Swift's own executor.
    public static func install(environment: [String: String]) -> Bool {
        guard environment[environmentKey] != "0" else { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
