import Dispatch
import Foundation

/// Bounds how many encoders work at once, so streaming encodes for many GPU slots never
/// oversubscribe the CPU cores. Encoders take a permit only while they have frames to
/// encode, not while they wait for the next chunk.
public final class EncoderLimiter: Sendable {
    private let semaphore: DispatchSemaphore
    public let permits: Int

    /// - Parameter permits: at most this many encoders run at once; by default one per core.
    public init(permits: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.permits = max(1, permits)
        semaphore = DispatchSemaphore(value: self.permits)
    }

    /// Blocks the calling (non-cooperative) thread until a permit is free.
    func acquire() { semaphore.wait() }

    func release() { semaphore.signal() }
}
