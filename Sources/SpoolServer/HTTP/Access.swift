import Foundation
import SpoolScheduler

/// The one rule for who may use the API and for whom a request acts, applied by the
/// router's middleware and by the poll handler in the channel pipeline alike, so both let in
/// exactly the same requests: a token as `Authorization: Bearer <token>`, as every client
/// sends it, or as the dashboard's sign-in cookie. The token is the host's own
/// (`--token-file`: every job, no limits) or a tenant's (`--tokens`: its role and limits).
///
/// The cookie (HttpOnly, SameSite=Strict, set by `POST /login` for a valid token) lets a
/// browser use the API without the page ever holding the token. It does not weaken the
/// bearer rule: it carries the same token, and a request that changes anything must also
/// carry `X-Spool-Dashboard`, a header no other site's form or link can add, so a cookie
/// alone can read but never act (cross-site request forgery).
public struct Access: Sendable {
    /// The host's own token, if set.
    let hostToken: String?
    /// The tenants' tokens, if `--tokens` is set.
    let tenants: TenantDirectory?

    /// nil when authentication is off: no token and no tenants.
    init?(hostToken: String?, tenants: TenantDirectory?) {
        let hostToken = hostToken.flatMap { $0.isEmpty ? nil : $0 }
        guard hostToken != nil || tenants != nil else { return nil }
        self.hostToken = hostToken
        self.tenants = tenants
    }

    enum Decision: Equatable {
        case allowed(Principal)
        /// Signed in by cookie, but asking to change something without the dashboard's header.
        case forbidden(String)
        case unauthorized(String)
    }

    static let dashboardHeader = "X-Spool-Dashboard"

    /// Whether a request with these headers may go on, and for whom.
    func decide(reads: Bool, authorization: String?, cookies: [String], dashboardHeader: Bool) -> Decision {
        if let token = Self.bearerToken(authorization), let principal = principal(presenting: token) { return .allowed(principal) }
        if let cookie = DashboardCookie.token(in: cookies), let principal = principal(presenting: cookie) {
            guard reads || dashboardHeader else {
                return .forbidden("a request signed in by cookie must carry \(Self.dashboardHeader) to change anything")
            }
            return .allowed(principal)
        }
        return .unauthorized("a bearer token is required: send Authorization: Bearer <token>")
    }

    /// The principal `presented` stands for: the host's token compared without an early
    /// exit (timing does not reveal how much of a guess was right), a tenant's by its hash.
    func principal(presenting presented: String) -> Principal? {
        if let hostToken, Self.equal(presented, hostToken) { return .host }
        return tenants?.principal(presenting: presented)
    }

    static func equal(_ presented: String, _ token: String) -> Bool {
        let x = Array(presented.utf8)
        let y = Array(token.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }

    /// The token of an `Authorization: Bearer <token>` header.
    static func bearerToken(_ authorization: String?) -> String? {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        return String(authorization.dropFirst(7))
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
