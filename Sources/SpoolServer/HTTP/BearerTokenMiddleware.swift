import HTTPTypes
import Hummingbird

/// Lets a request through only with a token ``Access`` accepts (paths in `openPaths` are
/// open), and puts whom it acts for in its context.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = SpoolRequestContext
    let access: Access
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        switch access.decide(
            reads: request.method == .get || request.method == .head, authorization: request.headers[.authorization],
            cookies: request.headers[values: .cookie], dashboardHeader: request.headers[HTTPField.Name(Access.dashboardHeader)!] != nil)
        {
        case .allowed(let principal):
            var context = context
            context.principal = principal
            return try await next(request, context)
        case .forbidden(let message):
            throw APIError(.forbidden, "forbidden", message)
        case .unauthorized(let message):
            throw APIError(.unauthorized, "unauthorized", message, headers: [.wwwAuthenticate: "Bearer"])
        }
    }
}
