#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes `data` to `path` so that it is whole or absent after a crash of the machine: under
/// a temporary name beside it, synced, renamed into place, and the folder synced so the
/// rename is too. What a checkpoint's files need before anything may rely on them.
public func writeDurably(_ data: Data, to path: String) throws {
    let folder = (path as NSString).deletingLastPathComponent
    let temporary = folder + "/." + (path as NSString).lastPathComponent + ".tmp"
    func failure(_ doing: String) -> DurableWriteError {
        DurableWriteError(description: "\(doing): \(String(cString: strerror(errno)))")
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw failure("cannot create \(temporary)") }
    var written = 0
    while written < data.count {
        let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, data.count - written) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
            let error = failure("cannot write \(temporary)")
            close(fd)
            unlink(temporary)
            throw error
        }
        written += n
    }
    guard fsync(fd) == 0 else {
        let error = failure("cannot sync \(temporary)")
        close(fd)
        unlink(temporary)
        throw error
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
        let error = failure("cannot rename \(temporary) to \(path)")
        unlink(temporary)
        throw error
    }
    syncFolder(folder)
}

/// Syncs a folder, so the names created or renamed in it survive a crash of the machine.
public func syncFolder(_ folder: String) {
    let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if directory >= 0 {
        fsync(directory)
        close(directory)
    }
}

/// Why ``writeDurably(_:to:)`` failed, naming the file and the system's reason.
public struct DurableWriteError: Error, CustomStringConvertible {
    public var description: String
}
