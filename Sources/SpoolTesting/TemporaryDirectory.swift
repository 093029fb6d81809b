import Foundation

/// A fresh folder under the system's temporary directory, removed by ``remove()``
/// (kept when `SPOOL_KEEP_TMP` is set, to read a failed test's daemon logs).
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "spool") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// `path/name`.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    public func remove() {
        guard ProcessInfo.processInfo.environment["SPOOL_KEEP_TMP"] == nil else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}
