import Foundation
import HTTPTypes
import Hummingbird

/// Lets through only the requests ``Access`` allows, but on the open paths (the health
/// check, the dashboard's page and its sign-in).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: Access
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        switch access.decide(
            reads: request.method == .get || request.method == .head, authorization: request.headers[.authorization],
            cookies: request.headers[values: .cookie], dashboardHeader: request.headers[HTTPField.Name(Access.dashboardHeader)!] != nil)
        {
        case .allowed:
            return try await next(request, context)
        case .forbidden(let message):
            throw APIError(.forbidden, "forbidden", message)
        case .unauthorized(let message):
            throw APIError(.unauthorized, "unauthorized", message, headers: [.wwwAuthenticate: "Bearer"])
        }
    }
}
