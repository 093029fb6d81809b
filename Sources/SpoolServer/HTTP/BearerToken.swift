/// The bearer-token check, shared by the router's middleware and the poll handler in the
/// channel pipeline, so both let in exactly the same requests.
enum BearerToken {
    /// Whether an `Authorization` header value presents `token` as `Bearer <token>`.
    static func authorizes(_ authorization: String?, token: String) -> Bool {
        let presented = authorization ?? ""
        return presented.hasPrefix("Bearer ") && constantTimeEqual(String(presented.dropFirst(7)), token)
    }

    /// Compares without an early exit, so timing does not reveal how much of a guess was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}
