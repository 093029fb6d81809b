import Hummingbird
import SpoolCore
import SpoolScheduler

/// Answers a request the job queue could not serve because it cannot be reached (a shared
/// PostgreSQL store that went away) with `503 Service Unavailable`, `Retry-After` and a
/// message that says so, within the operations layer's deadline: the client knows to try
/// again, and nothing was taken (issue 27).
struct StoreUnavailableMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as StoreUnavailable {
            throw APIError(
                .serviceUnavailable, "queue_unavailable", "\(error)",
                headers: [.retryAfter: "\(error.retryAfterSeconds)"])
        } catch let error as QuotaExceeded {
            // Also an answer to try again later, for this tenant alone.
            throw APIError(.tooManyRequests, "quota_exceeded", "\(error)", headers: [.retryAfter: "\(error.retryAfterSeconds)"])
        }
    }
}
