import Logging
import ServiceLifecycle
import UnixSignals

/// Reads the tenants file again on each SIGHUP: a removed token is refused from its next
/// request on, a new one let in, a changed limit applied to the next submission. A file that
/// cannot be used is logged and changes nothing; the host goes on with the tenants it had.
public struct TenantReloader: Service {
    let tenants: TenantDirectory
    let logger: Logger

    public init(tenants: TenantDirectory, logger: Logger) {
        self.tenants = tenants
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            do {
                let count = try tenants.reload()
                logger.notice("read the tenants file again", metadata: ["path": "\(tenants.path)", "tenants": "\(count)"])
            } catch {
                logger.error("the tenants file was not read again; the tenants stay as they were", metadata: ["error": "\(error)"])
            }
        }
    }
}
