import CFFmpeg
import Crypto
import Foundation
import SpoolCore

/// How large an input may be, in bytes and in pixels.
public struct InputLimits: Sendable, Hashable {
    public var maxImageBytes: Int
    public var maxVideoBytes: Int
    /// The largest picture either kind may have, either way up.
    public var maxFrame: FrameSize
    public var maxVideoFrames: Int

    public init(
        maxImageBytes: Int = 50 << 20, maxVideoBytes: Int = 512 << 20, maxFrame: FrameSize = FrameSize(width: 7_680, height: 4_320),
        maxVideoFrames: Int = JobSpec.maxFrames
    ) {
        self.maxImageBytes = maxImageBytes
        self.maxVideoBytes = maxVideoBytes
        self.maxFrame = maxFrame
        self.maxVideoFrames = maxVideoFrames
    }

    public func maxBytes(_ kind: JobInput.Kind) -> Int { kind == .image ? maxImageBytes : maxVideoBytes }
}

/// Why an input was refused; `field` is the job field it came as (`image`, `video`).
public struct InputError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable { case tooLarge, invalid, missing }
    public var field: String
    public var reason: Reason
    public var message: String

    public init(_ field: String, _ reason: Reason, _ message: String) {
        self.field = field
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// An upload being written to a scratch file while its SHA-256 is computed, refused the
/// moment it passes its byte limit.
/// Used by one task at a time: written while the request streams in, then handed whole to
/// the thread that ingests it.
/// `@unchecked Sendable`: one owner at a time (the request task, then the ingest thread).
public final class InputUpload: @unchecked Sendable {
    public let kind: JobInput.Kind
    public let name: String?
    public let path: String
    private let limit: Int
    private var handle: FileHandle?
    private var hasher = SHA256()
    public private(set) var bytes = 0

    init(folder: String, kind: JobInput.Kind, name: String?, limit: Int) throws {
        self.kind = kind
        self.name = name
        self.limit = limit
        path = folder + "/.incoming-\(UUID().uuidString.lowercased())"
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = FileHandle(forWritingAtPath: path)
    }

    deinit { abandon() }

    /// Appends bytes. Throws ``InputError`` (`tooLarge`) past the limit, and drops the file.
    public func write(_ data: UnsafeRawBufferPointer) throws {
        bytes += data.count
        if bytes > limit {
            abandon()
            throw InputError(
                kind.rawValue, .tooLarge, "is larger than the \(limit >> 20) MiB \(kind == .image ? "an image" : "a video") may be")
        }
        hasher.update(bufferPointer: data)
        try handle?.write(contentsOf: Data(bytes: data.baseAddress!, count: data.count))
    }

    /// The hex digest of everything written.
    func finish() throws -> String {
        try handle?.close()
        handle = nil
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Removes the scratch file.
    public func abandon() {
        try? handle?.close()
        handle = nil
        unlink(path)
    }
}

/// The inputs jobs are conditioned on, each kept once under its SHA-256 in one folder:
/// `<sha256>` (the bytes as they came) and `<sha256>.json` (what Spool decoded them to).
///
/// Every input is decoded in full with libavcodec when it comes in, so a job never waits on
/// a file that cannot be read; for a job it is decoded again, scaled and cropped to the job's
/// size and written as raw RGB24 for the worker (``prepare(_:size:into:)``).
public final class InputLibrary: Sendable {
    public let folder: String
    public let limits: InputLimits

    public init(folder: String, limits: InputLimits = .init()) {
        self.folder = folder
        self.limits = limits
    }

    /// A scratch file to stream an upload of `kind` into.
    public func upload(_ kind: JobInput.Kind, name: String?) throws -> InputUpload {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return try InputUpload(folder: folder, kind: kind, name: name, limit: limits.maxBytes(kind))
    }

    /// Takes a finished upload in: decodes it, and keeps it under its hash (once, however
    /// often it is sent). Blocks while it decodes: call it off the cooperative pool.
    public func ingest(_ upload: InputUpload) throws -> JobInput {
        let digest: String
        do { digest = try upload.finish() } catch {
            upload.abandon()
            throw error
        }
        defer { upload.abandon() }
        if var known = describe(digest) {
            known.name = upload.name ?? known.name
            touch(digest)
            return known
        }
        var input = try decode(upload.path, kind: upload.kind, digest: digest, bytes: upload.bytes)
        input.name = upload.name
        let target = path(of: digest)
        guard rename(upload.path, target) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target]) }
        let metadata = try JSONEncoder().encode(input)
        try metadata.write(to: URL(fileURLWithPath: target + ".json"), options: .atomic)
        return input
    }

    /// Takes a file already on disk in (the drop folder's inputs): copied, never moved.
    public func ingest(fileAt path: String, kind: JobInput.Kind, name: String?) throws -> JobInput {
        guard let source = FileHandle(forReadingAtPath: path) else {
            throw InputError(kind.rawValue, .missing, "\(name ?? path) cannot be read")
        }
        defer { try? source.close() }
        let upload = try self.upload(kind, name: name)
        do {
            while let chunk = try source.read(upToCount: 1 << 20), !chunk.isEmpty {
                try chunk.withUnsafeBytes { try upload.write($0) }
            }
        } catch {
            upload.abandon()
            throw error
        }
        return try ingest(upload)
    }

    /// What an input kept here was decoded to, or nil when none has this hash.
    public func describe(_ sha256: String) -> JobInput? {
        guard JobInput.isDigest(sha256), FileManager.default.fileExists(atPath: path(of: sha256)),
              let data = FileManager.default.contents(atPath: path(of: sha256) + ".json") else { return nil }
        return try? JSONDecoder().decode(JobInput.self, from: data)
    }

    /// `<folder>/<sha256>`.
    public func path(of sha256: String) -> String { folder + "/" + sha256 }

    /// Decodes the input, scaled to cover `size` and cropped to its centre, into `path` as
    /// raw RGB24; returns the frames written. Blocks: call it off the cooperative pool.
    public func prepare(_ input: JobInput, size: FrameSize, into path: String) throws -> Int {
        let source = try MediaSource(path: self.path(of: input.sha256))
        let scaler = CoverScaler(target: size)
        guard FileManager.default.createFile(atPath: path, contents: nil), let output = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? output.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size.rgb24FrameBytes, alignment: 64)
        defer { buffer.deallocate() }
        var frames = 0
        try source.forEachFrame { frame in
            try scaler.convert(frame, into: buffer)
            try output.write(contentsOf: Data(buffer))
            frames += 1
            return input.kind != .image && frames < limits.maxVideoFrames
        }
        guard frames > 0 else { throw InputError(input.kind?.rawValue ?? "input", .invalid, "decoded to no frames") }
        return frames
    }

    /// Removes inputs no job refers to (`keeping`) that have not been used since `before`.
    /// Returns the hashes removed.
    @discardableResult
    public func sweep(keeping: Set<String>, unusedSince before: Date) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed: [String] = []
        for name in names where JobInput.isDigest(name) && !keeping.contains(name) {
            let path = path(of: name)
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                  modified < before else { continue }
            unlink(path + ".json")
            unlink(path)
            removed.append(name)
        }
        // Uploads abandoned mid-way by a process that died.
        for name in names where name.hasPrefix(".incoming-") {
            let path = folder + "/" + name
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
               modified < before { unlink(path) }
        }
        return removed
    }

    /// Marks an input used now, so the sweep counts its grace from its last use.
    public func touch(_ sha256: String) {
        _ = utimes(path(of: sha256), nil)
    }

    /// Decodes every frame of a received file: its size, frame count and decoder, checked
    /// against the limits and its kind.
    private func decode(_ path: String, kind: JobInput.Kind, digest: String, bytes: Int) throws -> JobInput {
        let field = kind.rawValue
        let source: MediaSource
        do {
            source = try MediaSource(path: path)
        } catch {
            throw InputError(field, .invalid, "does not decode as \(kind == .image ? "an image" : "a video") (\(error.message))")
        }
        let frame = FrameSize(width: source.width, height: source.height)
        guard frame.fits(in: limits.maxFrame) else {
            throw InputError(field, .tooLarge, "is \(frame) pixels; at most \(limits.maxFrame) (either way up) are allowed")
        }
        var frames = 0
        do {
            try source.forEachFrame { _ in
                frames += 1
                return frames <= limits.maxVideoFrames
            }
        } catch let error as MediaError {
            throw InputError(field, .invalid, "is damaged: frame \(frames + 1) does not decode (\(error.message))")
        }
        guard frames > 0 else { throw InputError(field, .invalid, "holds no picture that decodes") }
        if kind == .image && frames > 1 {
            throw InputError(field, .invalid, "is a video of \(frames)\(frames > limits.maxVideoFrames ? "+" : "") frames, not an image; give it as video")
        }
        if frames > limits.maxVideoFrames {
            throw InputError(field, .tooLarge, "has more than \(limits.maxVideoFrames) frames; at most \(limits.maxVideoFrames) (60 s) are allowed")
        }
        return JobInput(
            sha256: digest, kind: kind, width: source.width, height: source.height, frames: frames, bytes: bytes,
            codec: source.codec)
    }
}
