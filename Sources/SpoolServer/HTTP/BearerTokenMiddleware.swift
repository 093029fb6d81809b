import Foundation
import HTTPTypes
import Hummingbird

/// Requires the token on every request but the open paths (the health check, the dashboard's
/// page and its sign-in): `Authorization: Bearer <token>`, as every client sends it, or the
/// dashboard's cookie.
///
/// The cookie (HttpOnly, SameSite=Strict, set by `POST /login` for the right token) lets a
/// browser use the API without the page ever holding the token. It does not weaken the
/// bearer rule: it carries the same token, and a request that changes anything must also
/// carry `X-Spool-Dashboard`, a header no other site's form or link can add, so a cookie
/// alone can read but never act (cross-site request forgery).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String
    let openPaths: Set<String>

    static var dashboardHeader: HTTPField.Name { HTTPField.Name("X-Spool-Dashboard")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        if BearerToken.authorizes(request.headers[.authorization], token: token) { return try await next(request, context) }
        if let cookie = DashboardCookie.token(in: request.headers[values: .cookie]), BearerToken.constantTimeEqual(cookie, token) {
            let reads = request.method == .get || request.method == .head
            guard reads || request.headers[Self.dashboardHeader] != nil else {
                throw APIError(.forbidden, "forbidden", "a request signed in by cookie must carry X-Spool-Dashboard to change anything")
            }
            return try await next(request, context)
        }
        throw APIError(
            .unauthorized, "unauthorized", "a bearer token is required: send Authorization: Bearer <token>",
            headers: [.wwwAuthenticate: "Bearer"])
    }
}

/// The dashboard's sign-in cookie.
enum DashboardCookie {
    static let name = "spool_token"

    /// The cookie's value among `Cookie` header values.
    static func token(in headers: [String]) -> String? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2, parts[0] == name { return parts[1] }
            }
        }
        return nil
    }

    /// `Set-Cookie` for a signed-in browser; an empty token signs it out.
    static func header(_ token: String) -> String {
        "\(name)=\(token); Path=/; HttpOnly; SameSite=Strict" + (token.isEmpty ? "; Max-Age=0" : "")
    }
}
