import Hummingbird

/// Answers a request whose path the API serves, with a method it does not, `405 Method Not
/// Allowed` and an `Allow` header naming the methods it does (RFC 9110 §15.5.6), instead of
/// the router's bare 404.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Every (method, path template) served; `{name}` matches one path segment.
    let routes: [(method: String, path: String)]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { throw error }
            let list = allowed.joined(separator: ", ")
            throw APIError(
                .methodNotAllowed, "method_not_allowed", "\(request.method.rawValue) is not allowed on \(request.uri.path); use \(list)",
                headers: [.allow: list])
        }
    }

    /// The methods served on `path`, upper-case, in a stable order.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var found: [String] = []
        for route in routes {
            let template = route.path.split(separator: "/", omittingEmptySubsequences: true)
            guard template.count == segments.count,
                  zip(template, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 })
            else { continue }
            let method = route.method.uppercased()
            if !found.contains(method) { found.append(method) }
        }
        return found
    }
}
