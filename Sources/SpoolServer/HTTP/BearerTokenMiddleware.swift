import Hummingbird

/// Requires `Authorization: Bearer <token>` on every request but the health check.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard BearerToken.authorizes(request.headers[.authorization], token: token) else {
            throw APIError(
                .unauthorized, "unauthorized", "a bearer token is required: send Authorization: Bearer <token>",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }
}
