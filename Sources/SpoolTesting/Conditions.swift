import Foundation
import SpoolSupport

/// Waits until `condition` holds, checking every 10 ms. Tests wait for conditions, never for
/// durations: `timeout` only bounds how long a test that is already failing takes to say so.
///
/// - Throws: ``ProbeError`` naming `what` when the condition never held.
public func until(
    _ what: @autoclosure () -> String, timeout: Double = 60, _ condition: () async throws -> Bool
) async throws {
    try await waitUntil(what(), stall: timeout, progress: nil as (() async throws -> Int)?, condition)
}

/// Waits until `condition` holds while the work it waits for goes on: the deadline is `stall`
/// seconds without `progress` changing, not a duration for the whole, so a loaded machine that
/// is slow but moving never fails the test, and a hang is reported with how far it got.
///
/// - Throws: ``ProbeError`` naming `what` and the last progress when progress stopped.
public func until<Progress: Equatable & Sendable>(
    _ what: @autoclosure () -> String, stalledFor stall: Double = 60, progress: () async throws -> Progress,
    _ condition: () async throws -> Bool
) async throws {
    try await withoutActuallyEscaping(progress) { progress in
        try await waitUntil(what(), stall: stall, progress: progress, condition)
    }
}

/// Both waits: the deadline is `stall` seconds from the start, or from the last change of
/// `progress` when there is one.
private func waitUntil<Progress: Equatable>(
    _ what: @autoclosure () -> String, stall: Double, progress: (() async throws -> Progress)?,
    _ condition: () async throws -> Bool
) async throws {
    var last = try await progress?()
    var deadline = ContinuousClock.now + .seconds(stall)
    while try await !condition() {
        if let progress, case let now = try await progress(), now != last {
            last = now
            deadline = ContinuousClock.now + .seconds(stall)
        }
        guard ContinuousClock.now < deadline else {
            let how = last.map { ": no progress for \(Int(stall)) s, stopped at \($0)" } ?? ""
            throw ProbeError(message: "timed out waiting until \(what())\(how)")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Whether process `pid` ignores `signal` (`SigIgn` in `/proc/PID/status`): how a test knows
/// a worker has reached the point where it means to outlive SIGTERM.
public func processIgnores(_ pid: Int32, signal: Int32) -> Bool {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigIgn:") }),
          let mask = UInt64(line.dropFirst("SigIgn:".count).trimmingCharacters(in: .whitespaces), radix: 16)
    else { return false }
    return mask & (1 << UInt64(signal - 1)) != 0
}

/// Runs blocking work (a raw socket read, a child process) on a thread of its own, so that
/// it never holds one of the few threads Swift's concurrency runs every test on.
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await onOwnThread("spool-test", work)
}
