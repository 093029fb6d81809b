#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A chunk of frames a worker wrote: raw RGB24, `width*height*3` bytes a frame, in one file.
public struct ChunkDescriptor: Hashable, Sendable, Codable {
    /// 0-based, in generation order.
    public var index: Int
    /// Position of the chunk's first frame on the model's frame timeline.
    public var firstFrame: Int
    public var frames: Int
    public var width: Int
    public var height: Int
    public var pixelFormat: String
    /// File name inside the work directory.
    public var file: String
    /// The chunk's sound, for pipelines that make sound (`"audio"` in the pipeline file).
    public var audio: ChunkAudio?

    public init(
        index: Int, firstFrame: Int, frames: Int, width: Int, height: Int, pixelFormat: String = "rgb24", file: String,
        audio: ChunkAudio? = nil
    ) {
        self.audio = audio
        self.index = index
        self.firstFrame = firstFrame
        self.frames = frames
        self.width = width
        self.height = height
        self.pixelFormat = pixelFormat
        self.file = file
    }

    enum CodingKeys: String, CodingKey {
        case index, firstFrame = "first_frame", frames, width, height, pixelFormat = "pixel_format", file, audio
    }

    /// One past the chunk's last frame on the timeline.
    public var endFrame: Int { firstFrame + frames }

    public var size: FrameSize { FrameSize(width: width, height: height) }

    /// Bytes the chunk's file must hold.
    public var expectedBytes: Int { frames * width * height * 3 }

    /// Checks the descriptor against the job and its file against the descriptor, and
    /// returns the file's path. Every failure names the chunk and what was wrong.
    public func validatedPath(in workDir: String, expectedSize: FrameSize) throws(ChunkError) -> String {
        if file.isEmpty || file.contains("/") || file.hasPrefix(".") {
            throw ChunkError(chunk: index, "file name \"\(file)\" must be a plain name inside the work directory")
        }
        if pixelFormat != "rgb24" {
            throw ChunkError(chunk: index, "pixel format \(pixelFormat) is not supported; write rgb24")
        }
        if frames < 1 { throw ChunkError(chunk: index, "declares \(frames) frames") }
        if firstFrame < 0 { throw ChunkError(chunk: index, "declares first frame \(firstFrame)") }
        if size != expectedSize {
            throw ChunkError(chunk: index, "is \(size) but the job is \(expectedSize)")
        }
        let path = workDir + "/" + file
        // Through a descriptor, never following a link: what is checked is what is read.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw ChunkError(chunk: index, errno == ELOOP ? "file \(file) is a symbolic link; write the chunk itself" : "file \(file) is missing")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ChunkError(chunk: index, "file \(file) cannot be examined") }
        try Self.check(info, file: file, expectedBytes: expectedBytes, frames: frames, size: size, chunk: index)
        return path
    }
}

extension ChunkDescriptor {
    /// The rules a chunk file's `fstat` must meet: a regular file with one link (a worker
    /// cannot make Spool read, shrink or delete a file elsewhere by linking to it), of exactly
    /// the bytes its frames need.
    public static func check(
        _ info: stat, file: String, expectedBytes: Int, frames: Int, size: FrameSize, chunk: Int
    ) throws(ChunkError) {
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ChunkError(chunk: chunk, "file \(file) is not a regular file")
        }
        guard info.st_nlink == 1 else {
            throw ChunkError(chunk: chunk, "file \(file) has \(info.st_nlink) links; a chunk file must be the worker's own, with one")
        }
        guard Int(info.st_size) == expectedBytes else {
            throw ChunkError(chunk: chunk, "file \(file) is \(info.st_size) bytes; \(frames) frames of \(size) RGB24 need \(expectedBytes)")
        }
    }
}

/// A chunk that cannot be used, with a message naming it.
public struct ChunkError: Error, Hashable, Sendable, CustomStringConvertible {
    public var chunk: Int
    public var reason: String

    public init(chunk: Int, _ reason: String) {
        self.chunk = chunk
        self.reason = reason
    }

    public var description: String { reason.hasPrefix("'s ") ? "chunk \(chunk)\(reason)" : "chunk \(chunk) \(reason)" }
}
