#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A small file system of its own (tmpfs), for tests of what happens when a disk fills.
/// Mounting needs root (CI runs as root); elsewhere those tests are skipped with a reason.
/// `@unchecked Sendable`: immutable after mounting; `TemporaryDirectory` is a non-Sendable class.
public final class Tmpfs: @unchecked Sendable {
    public let path: String
    private let folder: TemporaryDirectory

    /// Mounts `sizeMiB` of tmpfs on a fresh folder.
    public init(sizeMiB: Int) throws {
        folder = try TemporaryDirectory("tmpfs")
        path = folder.path
        let result = try runProcess(["mount", "-t", "tmpfs", "-o", "size=\(sizeMiB)m", "tmpfs", path])
        guard result.status == 0 else {
            folder.remove()
            throw ProbeError(message: "cannot mount a tmpfs: \(result.stderr)")
        }
    }

    deinit {
        _ = try? runProcess(["umount", "-l", path])
        folder.remove()
    }

    /// Whether this machine lets the tests mount one; says why not, once, when it does not.
    public static let isAvailable: Bool = {
        if let probe = try? Tmpfs(sizeMiB: 1) {
            _ = probe
            return true
        }
        print("note: tests on a full disk skipped: mounting a tmpfs needs root")
        return false
    }()

    /// Bytes free on it.
    public var freeBytes: Int {
        var fs = statvfs()
        return statvfs(path, &fs) == 0 ? Int(fs.f_bavail) * Int(fs.f_frsize) : 0
    }

    /// Takes every byte but `leaving` with a file of its own (`.filler`).
    public func fill(leaving: Int) throws {
        let fd = open(path + "/.filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        var current = stat()
        fstat(fd, &current)
        let target = Int(current.st_size) + max(0, freeBytes - leaving)
        guard posix_fallocate(fd, 0, off_t(target)) == 0 else { throw ProbeError(message: "cannot fill the tmpfs") }
    }

    /// Gives back what ``fill(leaving:)`` took.
    public func empty() {
        unlink(path + "/.filler")
    }
}
