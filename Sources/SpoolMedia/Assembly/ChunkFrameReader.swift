#if canImport(Glibc)
import Glibc
#endif
import SpoolCore

/// Reads single frames out of chunk files with `pread`, keeping each file open until
/// it is released, so a frame costs a few system calls and no allocation.
///
/// Both reading and deleting go in bounded pieces (``ioPiece``, ``deletionPiece``). Kernels
/// built without preemption (`preempt=none`, common on servers and VMs) run a system call
/// to its end before anything else gets that CPU: one `pread` of a whole 720p frame holds
/// it for about a millisecond, and one `unlink` of a 33-frame chunk, which frees 90 MB of
/// page cache, for 11 to 35 ms (`perf trace`). The encoder runs at a low priority, but
/// only between system calls can the HTTP server's threads take its CPU back.
final class ChunkFrameReader {
    /// The most one `pread` asks for: it fits in L2, and the call returns well within a millisecond.
    static let ioPiece = 256 << 10
    /// How much of a consumed chunk one `truncate` frees before the final `unlink`.
    static let deletionPiece: off_t = 4 << 20

    private let folder: String
    private let frameBytes: Int
    private var open: [Int: Int32] = [:]
    private var scratch: UnsafeMutableRawBufferPointer?

    init(folder: String, frameSize: FrameSize) {
        self.folder = folder
        self.frameBytes = frameSize.rgb24FrameBytes
    }

    deinit {
        for fd in open.values { close(fd) }
        scratch?.deallocate()
    }

    /// Fills `buffer` with the planned frame's RGB24 pixels.
    func read(_ frame: PlannedFrame, into buffer: UnsafeMutableRawBufferPointer) throws(ChunkError) {
        switch frame.pixels {
        case .copy(let source):
            try read(source, into: buffer)
        case .blend(let from, let to, let weight):
            if scratch == nil { scratch = .allocate(byteCount: frameBytes, alignment: 64) }
            try read(from, into: buffer)
            try read(to, into: scratch!)
            Self.blend(buffer, toward: UnsafeRawBufferPointer(scratch!), weight: weight)
        }
    }

    /// Closes a chunk's file; deletes it too when `delete` is set.
    ///
    /// The file is shrunk through the descriptor that was checked and read, never by its
    /// name: a worker that swapped the name for a link meanwhile gets its link removed, and
    /// the file it points to is never touched.
    func release(_ chunk: ChunkDescriptor, delete: Bool) {
        var fd = open.removeValue(forKey: chunk.index)
        defer { if let fd { close(fd) } }
        guard delete else { return }
        let path = "\(folder)/\(chunk.file)"
        if fd == nil {
            // Never read (trimmed away): open it the same careful way, or only remove the name.
            fd = try? opened(chunk)
        }
        if let fd {
            var info = stat()
            // Shrunk only while it is still the worker's own file: one link.
            if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1 {
                // From the end backwards, so that each step frees one piece's page cache.
                var size = info.st_size
                while size > 0 {
                    size = max(0, size - Self.deletionPiece)
                    guard ftruncate(fd, size) == 0 else { break }
                }
            }
        }
        unlink(path)
    }

    private func read(_ source: PlannedFrame.Source, into buffer: UnsafeMutableRawBufferPointer) throws(ChunkError) {
        let fd = try descriptor(for: source.chunk)
        var done = 0
        let offset = off_t(source.offset) * off_t(frameBytes)
        while done < frameBytes {
            let n = pread(fd, buffer.baseAddress! + done, min(frameBytes - done, Self.ioPiece), offset + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw ChunkError(
                    chunk: source.chunk.index,
                    "file \(source.chunk.file) ended early: frame \(source.offset) is incomplete (\(n < 0 ? String(cString: strerror(errno)) : "short file"))")
            }
            done += n
        }
    }

    private func descriptor(for chunk: ChunkDescriptor) throws(ChunkError) -> Int32 {
        if let fd = open[chunk.index] { return fd }
        let fd = try opened(chunk)
        open[chunk.index] = fd
        return fd
    }

    /// Opens a chunk's file for reading and shrinking, without following a link, and checks
    /// it by its descriptor (see ``ChunkDescriptor/check(_:file:expectedBytes:frames:size:chunk:)``).
    private func opened(_ chunk: ChunkDescriptor) throws(ChunkError) -> Int32 {
        let fd = Glibc.open("\(folder)/\(chunk.file)", O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "is a symbolic link" : "cannot be opened: \(String(cString: strerror(errno)))"
            throw ChunkError(chunk: chunk.index, "file \(chunk.file) \(reason)")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw ChunkError(chunk: chunk.index, "file \(chunk.file) cannot be examined")
        }
        do {
            try ChunkDescriptor.check(
                info, file: chunk.file, expectedBytes: chunk.expectedBytes, frames: chunk.frames, size: chunk.size, chunk: chunk.index)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// `a = (1 - weight)·a + weight·b`, per byte, in fixed point.
    static func blend(_ a: UnsafeMutableRawBufferPointer, toward b: UnsafeRawBufferPointer, weight: Double) {
        let w = UInt32((weight * 256).rounded())
        let keep = 256 - w
        let pa = a.bindMemory(to: UInt8.self)
        let pb = b.bindMemory(to: UInt8.self)
        for i in 0..<min(pa.count, pb.count) {
            pa[i] = UInt8((UInt32(pa[i]) * keep + UInt32(pb[i]) * w + 128) >> 8)
        }
    }
}
