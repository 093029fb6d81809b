import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The dashboard: one page, served as it is from the repository (no build step), reading the
/// same API as every client. Off loopback it signs in with the host's token (`POST /login`
/// sets the cookie ``Access`` accepts).
extension SpoolAPI {
    static let dashboardPaths: Set<String> = ["/", "/login", "/logout"]

    static let dashboardPage: ByteBuffer = {
        guard let url = Bundle.module.url(forResource: "index", withExtension: "html", subdirectory: "Dashboard"),
              let data = try? Data(contentsOf: url)
        else { return ByteBuffer(string: "<!doctype html><p>the dashboard's page is missing from this build</p>") }
        return ByteBuffer(bytes: data)
    }()

    func addDashboardRoutes(to router: Router<Context>) {
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                          HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:"],
                body: .init(byteBuffer: Self.dashboardPage))
        }
        router.post("/login") { request, _ in try await login(request) }
        router.post("/logout") { _, _ in
            Response(status: .seeOther, headers: [.location: "/", .setCookie: DashboardCookie.header("")])
        }
    }

    /// Checks the token a sign-in form sent (`token=…`) and, when it is the host's or a
    /// tenant's, sets the cookie.
    func login(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 4_096)
        let form = String(decoding: body.readableBytesView, as: UTF8.self)
        var presented = ""
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "token" {
                presented = parts[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
        }
        guard let access = configuration.access else {
            return Response(status: .seeOther, headers: [.location: "/"])  // nothing to sign in to
        }
        guard access.principal(presenting: presented) != nil else {
            return Response(status: .seeOther, headers: [.location: "/?login=failed"])
        }
        return Response(status: .seeOther, headers: [.location: "/", .setCookie: DashboardCookie.header(presented)])
    }
}
