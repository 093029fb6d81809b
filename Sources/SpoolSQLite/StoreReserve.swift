#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Disk space held beside the store, given up the moment the disk fills, so that the store
/// can still write what it must (above all, how a job ended) when a worker's raw frames or
/// an MP4 have taken every other byte. Made again once there is room.
final class StoreReserve: Sendable {
    let path: String
    let bytes: Int
    /// When making the reserve last failed: tried again at most every few seconds.
    private let lastFailure = Mutex<ContinuousClock.Instant?>(nil)

    init(path: String, bytes: Int) {
        self.path = path
        self.bytes = bytes
        restore()
    }

    var isHeld: Bool {
        var info = stat()
        return stat(path, &info) == 0 && Int(info.st_size) >= bytes
    }

    /// Gives the space up; returns whether there was any to give.
    func release() -> Bool {
        guard isHeld else { return false }
        unlink(path)
        return true
    }

    /// Makes the reserve if it is missing and the disk has room for it.
    func restore() {
        guard bytes > 0, !isHeld else { return }
        let due = lastFailure.withLock { last in last.map { ContinuousClock.now - $0 > .seconds(5) } ?? true }
        guard due else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let allocated = posix_fallocate(fd, 0, off_t(bytes)) == 0
        close(fd)
        if !allocated {
            unlink(path)
            lastFailure.withLock { $0 = .now }
        }
    }
}
