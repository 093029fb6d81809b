import Foundation

/// Runs blocking work (decoding a file with FFmpeg) on a thread of its own, so that it never
/// holds one of the few threads of Swift's cooperative pool, and awaits its result.
public func onOwnThread<T: Sendable>(_ name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.name = name
        thread.start()
    }
}
