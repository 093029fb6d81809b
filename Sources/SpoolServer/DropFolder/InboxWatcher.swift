#if canImport(Glibc)
import Glibc
#endif
import CSpoolSystem
import Foundation
import Synchronization

/// Wakes the drop folder when something lands in the inbox: inotify where it works,
/// with the caller's polling as the fallback (and the safety net for missed events).
final class InboxWatcher: Sendable {
    private struct Seen {
        /// Names that arrived by `rename` into the inbox: complete the moment they appear.
        var movedIn = Set<String>()
        /// Names a writer closed after writing (`IN_CLOSE_WRITE`): complete unless another
        /// writer still holds them open.
        var closedAfterWriting = Set<String>()
        /// Set once the reading thread has closed its descriptors.
        var closed = false
    }

    private let seen = Mutex(Seen())
    private let fd: Int32
    /// Written by `stop()` to wake the reading thread, which then closes both descriptors
    /// itself. Closing the inotify descriptor under a blocked `read` would let that read
    /// land on whatever socket reuses the number next, stealing another connection's bytes.
    private let wakeFd: Int32
    private let wakeReadFd: Int32
    private let onEvent: @Sendable () -> Void

    /// Whether inotify is watching; false means polling alone.
    var isWatching: Bool { fd >= 0 && wakeFd >= 0 }

    init(folder: String, onEvent: @escaping @Sendable () -> Void) {
        self.onEvent = onEvent
        var descriptor = inotify_init1(Int32(IN_CLOEXEC))
        if descriptor >= 0 {
            let mask = UInt32(IN_MOVED_TO) | UInt32(IN_CLOSE_WRITE) | UInt32(IN_CREATE)
            if inotify_add_watch(descriptor, folder, mask) < 0 {
                close(descriptor)
                descriptor = -1
            }
        }
        var fd = descriptor
        var wake: [Int32] = [-1, -1]
        if descriptor >= 0 && spool_pipe_cloexec(&wake) != 0 {
            close(descriptor)
            fd = -1
        }
        self.fd = fd
        wakeReadFd = wake[0]
        wakeFd = wake[1]
        guard fd >= 0 else { return }
        let thread = Thread { [self] in
            spool_set_thread_name("spool-inbox")
            readEvents()
        }
        thread.name = "spool-inbox"
        thread.start()
    }

    /// Returns and forgets whether `name` was moved in whole.
    func takeMovedIn(_ name: String) -> Bool {
        seen.withLock { $0.movedIn.remove(name) != nil }
    }

    /// Whether a writer closed `name` since it was last forgotten.
    func wasClosedAfterWriting(_ name: String) -> Bool {
        seen.withLock { $0.closedAfterWriting.contains(name) }
    }

    /// Forgets what was seen of `name` (it left the inbox).
    func forget(_ name: String) {
        seen.withLock {
            $0.movedIn.remove(name)
            $0.closedAfterWriting.remove(name)
        }
    }

    /// Ends the watch; safe to call more than once.
    func stop() {
        guard isWatching else { return }
        seen.withLock { seen in
            guard !seen.closed else { return }
            var one: UInt8 = 1
            _ = write(wakeFd, &one, 1)
        }
    }

    private func readEvents() {
        let size = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer {
            buffer.deallocate()
            seen.withLock {
                $0.closed = true
                close(fd)
                close(wakeReadFd)
                close(wakeFd)
            }
        }
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeReadFd, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { return }
            let n = read(fd, buffer, size)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                let nameLength = Int(event.len)
                if nameLength > 0, event.mask & (UInt32(IN_MOVED_TO) | UInt32(IN_CLOSE_WRITE)) != 0 {
                    let namePointer = (buffer + offset + MemoryLayout<inotify_event>.size).assumingMemoryBound(to: CChar.self)
                    let name = String(cString: namePointer)
                    seen.withLock { seen in
                        if event.mask & UInt32(IN_MOVED_TO) != 0 {
                            seen.movedIn.insert(name)
                        } else {
                            seen.closedAfterWriting.insert(name)
                        }
                    }
                }
                offset += MemoryLayout<inotify_event>.size + nameLength
            }
            onEvent()
        }
    }
}
