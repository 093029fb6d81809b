#if canImport(Glibc)
import Glibc
#endif
import SpoolCore

/// Reads single frames out of chunk files with `pread`, keeping each file open until
/// it is released, so a frame costs one system call and no allocation.
final class ChunkFrameReader {
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
    func release(_ chunk: ChunkDescriptor, delete: Bool) {
        if let fd = open.removeValue(forKey: chunk.index) { close(fd) }
        if delete { unlink("\(folder)/\(chunk.file)") }
    }

    private func read(_ source: PlannedFrame.Source, into buffer: UnsafeMutableRawBufferPointer) throws(ChunkError) {
        let fd = try descriptor(for: source.chunk)
        var done = 0
        let offset = off_t(source.offset) * off_t(frameBytes)
        while done < frameBytes {
            let n = pread(fd, buffer.baseAddress! + done, frameBytes - done, offset + off_t(done))
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
        let fd = Glibc.open("\(folder)/\(chunk.file)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ChunkError(chunk: chunk.index, "file \(chunk.file) cannot be opened: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        if fstat(fd, &info) == 0, Int(info.st_size) != chunk.expectedBytes {
            close(fd)
            throw ChunkError(
                chunk: chunk.index,
                "file \(chunk.file) is \(info.st_size) bytes; \(chunk.frames) frames of \(chunk.size) RGB24 need \(chunk.expectedBytes)")
        }
        open[chunk.index] = fd
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
