import Foundation
import SpoolCore

/// Where a Spool host keeps its state.
///
/// ```
/// <root>/spool.sqlite   the job store (SQLite), with a small reserve beside it
/// <root>/work/          one folder per running attempt, removed when it ends (see `work`)
/// <root>/videos/        finished MP4s and posters (or a shared folder, see `videos`)
/// <root>/inputs/        images and clips jobs are conditioned on, by SHA-256 (see `inputs`)
/// <root>/inbox/ outbox/ failed/   the drop folder
/// <videos>/.checkpoints/   running jobs' checkpoints (see `checkpoints`)
/// ```
public struct DataDirectory: Sendable, Hashable {
    public var root: String
    /// Where finished videos go: `<root>/videos` unless set. Hosts sharing a PostgreSQL
    /// queue point this at one shared folder, so every host can serve every video.
    public var videos: String
    /// Where workers write raw chunks: `<root>/work` unless set. Raw frames are large and
    /// short-lived; on a file system of their own they can never fill the store's.
    public var work: String
    /// Where jobs' inputs are kept: `<root>/inputs`, or, when `videos` is set (hosts sharing
    /// a queue share it), `<videos>/.inputs`: any host may run a job, so every host must
    /// find its inputs.
    public var inputs: String
    /// Where running jobs' checkpoints are kept, one folder a job: `<videos>/.checkpoints`
    /// unless set. Any host may run a job's next attempt, so every host must see them.
    public var checkpoints: String

    public init(_ root: String, videos: String? = nil, work: String? = nil, inputs: String? = nil, checkpoints: String? = nil) {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        let videos = videos.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        self.videos = videos ?? self.root + "/videos"
        self.work = work.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? self.root + "/work"
        self.inputs = inputs.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            ?? videos.map { $0 + "/.inputs" } ?? self.root + "/inputs"
        self.checkpoints = checkpoints.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? self.videos + "/.checkpoints"
    }

    /// `$SPOOL_DATA`, else `$XDG_DATA_HOME/spool`, else `~/.local/share/spool`.
    public static var `default`: DataDirectory { .default(environment: ProcessInfo.processInfo.environment) }

    /// The default folder as `environment` says.
    public static func `default`(environment: [String: String]) -> DataDirectory {
        if let explicit = environment["SPOOL_DATA"], !explicit.isEmpty { return DataDirectory(explicit) }
        let base = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.local/share")
        return DataDirectory(base + "/spool")
    }

    public var storePath: String { root + "/spool.sqlite" }
    public var inbox: String { root + "/inbox" }
    public var outbox: String { root + "/outbox" }
    public var failed: String { root + "/failed" }
    /// Live previews (HLS) of jobs while they encode, one folder a job, beside the videos so
    /// any host sharing them can serve them.
    public var live: String { videos + "/.live" }

    /// The live preview folder of a job: one subfolder per attempt, removed whole.
    public func live(_ job: JobID) -> String { live + "/" + job.rawValue }

    /// The live preview of one attempt, its own until the attempt wins: an attempt another
    /// host took over never writes into, or removes, the preview of the one that replaced it.
    public func live(_ job: JobID, host: String, attempt: Int) -> String {
        live(job) + "/" + Self.attemptName(host: host, attempt: attempt)
    }

    /// What names one attempt's own files and folders: `<host>.a<N>`, the host's name made
    /// safe as a file name (a name is not checked for "/").
    public static func attemptName(host: String, attempt: Int) -> String {
        let safe = String(host.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return "\(safe).a\(attempt)"
    }

    /// The checkpoint folder of a job.
    public func checkpoints(_ job: JobID) -> String { checkpoints + "/" + job.rawValue }

    /// Creates the folders the daemon writes to.
    public func create() throws {
        for folder in [root, work, videos, inputs] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
    }
}
