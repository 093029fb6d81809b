#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpoolCore

/// Disk space as a resource the dispatcher knows, like GPUs: a job starts only when the
/// folders it writes to can hold what it may need, beside a floor kept free for everything
/// else (the store among it).
public struct DiskSpace: Sendable {
    /// A folder Spool writes to, and the space left on its file system.
    public struct Folder: Sendable, Hashable, Codable {
        /// `work` or `videos`.
        public var name: String
        public var path: String
        /// Bytes an unprivileged process may still write there.
        public var freeBytes: Int
        /// The file system's device, so that two folders on one file system count once.
        public var device: UInt64

        public init(name: String, path: String, freeBytes: Int, device: UInt64) {
            self.name = name
            self.path = path
            self.freeBytes = freeBytes
            self.device = device
        }
    }

    /// What a job may need on disk at most.
    public struct Footprint: Sendable, Hashable {
        /// Raw frames in the work folder: the raw backlog bound, or the whole video when it is
        /// smaller, plus the chunk being written.
        public var workBytes: Int
        /// The MP4 (estimated generously) and its poster.
        public var videoBytes: Int
    }

    /// Bytes of MP4 per pixel of video estimated for the need: 0.05 (0.4 bits a pixel), many
    /// times what x264 at CRF 23 makes of natural video (about 0.1 bits a pixel at 640x384).
    public static let mp4BytesPerPixel = 0.05

    public var configuration: SchedulerConfiguration

    public init(configuration: SchedulerConfiguration) {
        self.configuration = configuration
    }

    /// The space left in the work and videos folders now.
    public func folders() -> [Folder] {
        [("work", configuration.data.work), ("videos", configuration.data.videos)].compactMap { name, path in
            Self.measure(name: name, path: path)
        }
    }

    public static func measure(name: String, path: String) -> Folder? {
        var fs = statvfs()
        var info = stat()
        guard statvfs(path, &fs) == 0, stat(path, &info) == 0 else { return nil }
        return Folder(name: name, path: path, freeBytes: Int(fs.f_bavail) * Int(fs.f_frsize), device: UInt64(info.st_dev))
    }

    /// What `job` may need, made by `pipeline`.
    public func footprint(of job: Job, pipeline: PipelineDefinition) -> Footprint {
        let size = job.spec.size ?? pipeline.sizes.default
        let frame = size.rgb24FrameBytes
        let raw = job.spec.frames * frame
        let chunk = pipeline.chunking.frames * frame
        let held = configuration.rawBacklogBytes.map { min($0, raw) } ?? raw
        let mp4 = Int(Double(job.spec.frames * size.width * size.height) * Self.mp4BytesPerPixel)
        return Footprint(workBytes: held + chunk, videoBytes: mp4 + frame)
    }

    /// Why `job` cannot start for lack of space (naming the folder, what is free and what it
    /// needs), or nil when it can.
    public func shortage(for job: Job, pipeline: PipelineDefinition, folders: [Folder]? = nil) -> String? {
        let folders = folders ?? self.folders()
        let need = footprint(of: job, pipeline: pipeline)
        var needed: [UInt64: Int] = [:]
        for folder in folders {
            needed[folder.device, default: 0] += folder.name == "work" ? need.workBytes : need.videoBytes
        }
        for folder in folders {
            let wanted = needed[folder.device, default: 0] + configuration.minFreeSpaceBytes
            if folder.freeBytes < wanted {
                return "waiting for disk space: the \(folder.name) folder \(folder.path) has \(Self.format(folder.freeBytes)) free; "
                    + "this job may need \(Self.format(needed[folder.device, default: 0])) there, and \(Self.format(configuration.minFreeSpaceBytes)) "
                    + "is kept free (--min-free-space)"
            }
        }
        return nil
    }

    /// `1.5 GiB`, `640 MiB`, `12 KiB`.
    public static func format(_ bytes: Int) -> String {
        let units = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (unit, size) in units where abs(bytes) >= size {
            let value = Double(bytes) / Double(size)
            return value >= 10 ? "\(Int(value.rounded())) \(unit)" : String(format: "%.1f \(unit)", value)
        }
        return "\(bytes) bytes"
    }

    /// Whether `error` (with a worker's stderr in its description) says a write found its
    /// disk full.
    public static func isNoSpace(_ error: any Error) -> Bool {
        let text = "\(error)"
        return text.contains("No space left on device") || text.contains("ENOSPC") || text.contains("disk is full")
    }
}
