import Hummingbird
import SpoolScheduler

/// A request's context: Hummingbird's, and whom the request acts for.
public struct SpoolRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``BearerTokenMiddleware``; the host itself where no token is asked for
    /// (loopback without tokens).
    public var principal: Principal = .host

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
