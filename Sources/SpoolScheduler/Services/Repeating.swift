import ServiceLifecycle

/// A service's loop: `work`, then a pause of `seconds`, until the service group shuts down;
/// the pause ends early for a graceful shutdown, since waiting is all it does between passes.
func repeatUntilShutdown(every seconds: Double, _ work: () async -> Void) async {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        await work()
        await cancelWhenGracefulShutdown {
            try? await Task.sleep(for: .seconds(seconds))
        }
    }
}
