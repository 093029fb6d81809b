#if canImport(Glibc)
import Glibc
#endif
import CSpoolSystem
import Foundation
import Logging
import ServiceLifecycle
import SpoolAPIModel
import SpoolCore
import SpoolMedia
import SpoolScheduler
import Synchronization

/// The drop folder: job files copied into `<data>/inbox/` are submitted; results appear
/// in `<data>/outbox/` (`<name>.json`, and `<name>.mp4` when it succeeded); files that are
/// not valid jobs move to `<data>/failed/` with `<name>.error.json` beside them.
///
/// A file is taken only when complete:
/// - moved in by rename (`IN_MOVED_TO`): complete the moment it appears;
/// - written in place: once its writer closed it (`IN_CLOSE_WRITE`), or, for files seen
///   without events (there at start-up, on file systems without inotify), once its size and
///   modification time have not changed for `settleSeconds`; and in both cases only while no
///   process still holds it open for writing (a writer that pauses mid-file keeps it open).
///
/// A job file may name an input beside it: `"image": "fox.png"` or `"video": "clip.mp4"`. It
/// is taken only once that file is complete too (by the same rules), and both move together;
/// a file it names that does not arrive within `siblingWaitSeconds`, or that does not decode,
/// sends the job file and its input to `failed/` with the reason.
///
/// It is claimed by an atomic rename into `inbox/.processing/`, and enqueued with an
/// idempotency key made of its name and content, so a restart at any point enqueues it
/// exactly once. Originals are never deleted: once their result is written they move to
/// `inbox/.done/`. Anything in the inbox that is not a regular file (a symbolic link, a FIFO,
/// a folder) moves to `failed/` with the reason, and is never followed or read.
public final class DropFolderService: Service, Sendable {
    public struct Configuration: Sendable {
        public var settleSeconds: Double
        public var pollSeconds: Double
        /// How long a complete job file waits for an input it names that is not there.
        public var siblingWaitSeconds: Double

        public init(settleSeconds: Double = 1, pollSeconds: Double = 1, siblingWaitSeconds: Double = 30) {
            self.settleSeconds = settleSeconds
            self.pollSeconds = pollSeconds
            self.siblingWaitSeconds = siblingWaitSeconds
        }
    }

    private struct Sighting: Equatable {
        var size: Int
        var modified: Date
        var since: Date
    }

    private let host: SpoolHost
    private let configuration: Configuration
    private let logger: Logger
    private let data: DataDirectory
    private let sightings = Mutex<[String: Sighting]>([:])
    /// Job files waiting for an input they name that is not in the inbox: since when.
    private let waitingForInput = Mutex<[String: Date]>([:])
    /// Jobs submitted from the folder whose result is not written yet: job id -> file name.
    private let pending = Mutex<[JobID: String]>([:])
    private let scanCount = Mutex(0)
    /// Claimed job files the store could not take: when each is tried again, and its backoff.
    private let retries = Mutex<[String: (at: Date, delay: Double)]>([:])

    /// The operations layer, acting for the tenant the folder submits as.
    private let operations: JobOperations

    public init(
        host: SpoolHost, configuration: Configuration = .init(), principal: Principal = .host, logger: Logger = Logger(label: "spool.inbox")
    ) {
        self.host = host
        operations = host.operations.acting(for: principal)
        self.configuration = configuration
        self.logger = logger
        self.data = host.configuration.data
    }

    var processing: String { data.inbox + "/.processing" }
    var done: String { data.inbox + "/.done" }

    /// Passes over the inbox completed so far: a test waits for a pass that began after what
    /// it did, instead of for a while.
    public var scans: Int { scanCount.withLock { $0 } }

    public func run() async throws {
        for folder in [data.inbox, processing, done, data.outbox, data.failed] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let events = host.events.subscribe(buffer: 65_536)
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let watcher = InboxWatcher(folder: data.inbox) { wake.yield() }
        defer { watcher.stop() }
        logger.info("watching the drop folder", metadata: ["inbox": "\(data.inbox)", "inotify": "\(watcher.isWatching)"])

        // Files claimed by a previous run: submitting again returns the same job.
        for name in files(in: processing) where name.hasSuffix(".json") { await submit(name) }

        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in events {
                    guard case .state(let state) = event.kind, state.isFinal,
                          let name = self.pending.withLock({ $0.removeValue(forKey: event.job.id) }) else { continue }
                    self.host.events.unfollow(event.job.id)
                    self.writeResult(event.job, name: name)
                }
            }
            group.addTask {
                var iterator = wakes.makeAsyncIterator()
                while !Task.isCancelled {
                    await self.scan(watcher: watcher)
                    // Wake on inotify, or poll: settling files are rechecked at each poll.
                    let timeout = Task {
                        try await Task.sleep(for: .seconds(self.configuration.pollSeconds))
                        wake.yield()
                    }
                    _ = await iterator.next()
                    timeout.cancel()
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// One pass over the inbox: claim and submit every complete job file, and move aside
    /// what is not a regular file.
    func scan(watcher: InboxWatcher) async {
        defer { scanCount.withLock { $0 += 1 } }
        let now = Date()
        // Claimed files the store could not take last time, whose wait is over.
        let due = retries.withLock { retries in
            let due = retries.filter { $0.value.at <= now }.keys.sorted()
            for name in due { retries[name]?.at = .distantFuture }
            return due
        }
        for name in due {
            await submit(name)
            retries.withLock { retries in
                if retries[name]?.at == .distantFuture { retries[name] = nil }
            }
        }
        for name in files(in: data.inbox) {
            if Task.isCancelled { return }
            let path = data.inbox + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            guard info.st_mode & S_IFMT == S_IFREG else {
                watcher.forget(name)
                refuse(name, kind: Self.kind(of: info.st_mode))
                continue
            }
            // Other regular files are left alone (an input waits for the job file naming it).
            guard name.hasSuffix(".json"), isComplete(name, info: info, watcher: watcher, now: now) else { continue }
            let inputs = DropFolderInputs.named(in: FileManager.default.contents(atPath: path) ?? Data())
            guard inputsAreReady(inputs, for: name, watcher: watcher, now: now) else { continue }
            _ = sightings.withLock { $0.removeValue(forKey: name) }
            watcher.forget(name)
            // The atomic claim: whoever renames it owns it; a name still in flight waits.
            guard !FileManager.default.fileExists(atPath: processing + "/" + name),
                  rename(path, processing + "/" + name) == 0 else { continue }
            for input in DropFolderInputs.files(of: inputs) {
                _ = sightings.withLock { $0.removeValue(forKey: input.file) }
                watcher.forget(input.file)
            }
            moveInputs(inputs, from: data.inbox, to: processing, renaming: false)
            await submit(name)
        }
    }

    /// Whether a regular job file in the inbox is complete (see the type's documentation).
    private func isComplete(_ name: String, info: stat, watcher: InboxWatcher, now: Date) -> Bool {
        if watcher.takeMovedIn(name) { return true }
        let size = Int(info.st_size)
        let modified = Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
        let settled = sightings.withLock { sightings -> Bool in
            guard let previous = sightings[name], previous.size == size, previous.modified == modified else {
                sightings[name] = Sighting(size: size, modified: modified, since: now)
                return false
            }
            return now.timeIntervalSince(previous.since) >= configuration.settleSeconds
                && now.timeIntervalSince(modified) >= configuration.settleSeconds
        }
        guard watcher.wasClosedAfterWriting(name) || settled else { return false }
        // 1: a writer still holds it; -1: it cannot be told (then the settle alone decides).
        switch spool_file_open_for_writing(data.inbox + "/" + name) {
        case 0: return true
        case 1: return false
        default: return settled
        }
    }

    /// Whether every input a job file names is in the inbox and complete; one that is absent
    /// is waited for `siblingWaitSeconds`, and then the job file goes ahead (to be refused).
    private func inputsAreReady(_ inputs: [DropFolderInputs.Input], for name: String, watcher: InboxWatcher, now: Date) -> Bool {
        var missing = false
        for input in DropFolderInputs.files(of: inputs) {
            let path = data.inbox + "/" + input.file
            var info = stat()
            guard lstat(path, &info) == 0 else {
                missing = true
                continue
            }
            // A link or a folder is moved aside by the scan; the job then finds it missing.
            guard info.st_mode & S_IFMT == S_IFREG else { continue }
            if !isComplete(input.file, info: info, watcher: watcher, now: now) { return false }
        }
        guard missing else {
            _ = waitingForInput.withLock { $0.removeValue(forKey: name) }
            return true
        }
        let since = waitingForInput.withLock { waiting in
            if let since = waiting[name] { return since }
            waiting[name] = now
            return now
        }
        guard now.timeIntervalSince(since) >= configuration.siblingWaitSeconds else { return false }
        _ = waitingForInput.withLock { $0.removeValue(forKey: name) }
        return true
    }

    /// Moves something that is not a regular file to `failed/`, as it is (a link is moved,
    /// never followed), with the reason beside it.
    private func refuse(_ name: String, kind: String) {
        let target = uniquePath(in: data.failed, name: name)
        guard rename(data.inbox + "/" + name, target) == 0 else { return }
        writeRejection(
            name: URL(fileURLWithPath: target).lastPathComponent,
            message: "\(name) is \(kind), not a regular file; the drop folder takes job files themselves (copy or move the file in, not a link to it) and never follows links",
            issues: [])
    }

    static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: "a symbolic link"
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "not a regular file"
        }
    }

    /// Submits a claimed file, or moves it to `failed/` with the reasons.
    func submit(_ name: String) async {
        let path = processing + "/" + name
        guard let contents = FileManager.default.contents(atPath: path) else { return }
        let inputs = DropFolderInputs.named(in: contents)
        var spec: JobSpec
        do {
            spec = try JSONDecoder().decode(JobSpec.self, from: DropFolderInputs.withoutNames(contents))
        } catch {
            return reject(name, inputs: inputs, message: "not a job file: \((error as? DecodingError)?.humanDescription ?? "not valid JSON")", issues: [])
        }
        var issues: [ValidationIssue] = []
        var files: [JobOperations.File] = []
        for input in inputs {
            if let problem = DropFolderInputs.problem(with: input.file) {
                issues.append(ValidationIssue(field: input.field, reason: problem))
                continue
            }
            let file = processing + "/" + input.file
            guard FileManager.default.fileExists(atPath: file) else {
                issues.append(ValidationIssue(field: input.field, reason: "names \(input.file), which did not arrive in the inbox within \(String(format: "%g", configuration.siblingWaitSeconds)) s; copy the \(input.field) in first, then the job file"))
                continue
            }
            files.append(JobOperations.File(kind: input.kind, field: input.field, name: input.file, source: .path(file)))
        }
        let taken = await operations.take(files, into: spec)
        spec = taken.spec
        issues += taken.issues
        let digests = files.compactMap { ($0.kind == .image ? spec.image : spec.video)?.sha256 }
        guard issues.isEmpty else {
            return reject(name, inputs: inputs, message: "the job is invalid: \(issues.count) problem(s)", issues: issues)
        }
        let stem = Self.stem(name)
        if spec.outputName == nil, JobSpec.outputNameProblem(stem) == nil { spec.outputName = stem }
        if spec.idempotencyKey == nil {
            spec.idempotencyKey = "drop:\(name):\(Self.fingerprint(contents))" + digests.map { ":" + $0.prefix(16) }.joined()
        }
        spec.labels["spool.drop"] = name
        do {
            let result = try await operations.submit(spec)
            if result.job.state.isFinal {
                writeResult(result.job, name: name)
            } else {
                // Followed until its result is written, wherever it runs.
                host.events.follow(result.job.id)
                pending.withLock { $0[result.job.id] = name }
                // It may have ended between the submission and the line above.
                if let job = try? await operations.job(result.job.id), job.state.isFinal,
                   pending.withLock({ $0.removeValue(forKey: job.id) }) != nil {
                    host.events.unfollow(job.id)
                    writeResult(job, name: name)
                }
            }
            logger.info("submitted from the drop folder", metadata: ["file": "\(name)", "job": "\(result.job.id)", "new": "\(result.created)"])
        } catch SpoolError.invalidSpec(let issues) {
            reject(name, inputs: inputs, message: "the job is invalid: \(issues.count) problem(s)", issues: issues)
        } catch {
            // The store failed (a queue that went away, a full disk): the file stays claimed
            // and is submitted again at a later scan, backing off to once every 30 s; its
            // idempotency key makes a submission that did land the first time a no-op.
            let delay = retries.withLock { retries in
                let delay = min(30, max(1, (retries[name]?.delay ?? 0.5) * 2))
                retries[name] = (Date().addingTimeInterval(delay), delay)
                return delay
            }
            logger.error("could not submit from the drop folder; will try again", metadata: [
                "file": "\(name)", "retryIn": "\(Int(delay)) s", "error": "\(error)",
            ])
        }
    }

    struct Rejection: Encodable {
        var file: String
        var error: String
        var issues: [ValidationIssue]
    }

    /// Moves a claimed job file, and the inputs it names that came with it, to `failed/`.
    private func reject(_ name: String, inputs: [DropFolderInputs.Input] = [], message: String, issues: [ValidationIssue]) {
        moveInputs(inputs, from: processing, to: data.failed)
        let target = uniquePath(in: data.failed, name: name)
        _ = rename(processing + "/" + name, target)
        writeRejection(name: URL(fileURLWithPath: target).lastPathComponent, message: message, issues: issues)
    }

    /// Writes `failed/<stem>.error.json` for what was moved to `failed/<name>`.
    private func writeRejection(name: String, message: String, issues: [ValidationIssue]) {
        let report = Rejection(file: name, error: message, issues: issues)
        let errorPath = data.failed + "/" + Self.stem(name) + ".error.json"
        try? JSONEncoder.spoolAPI.encode(report).write(to: URL(fileURLWithPath: errorPath), options: .atomic)
        logger.warning("rejected a drop-folder file", metadata: ["file": "\(name)", "error": "\(message)"])
    }

    /// Writes `outbox/<stem>.json` (and `.mp4`), then retires the original to `.done/`.
    func writeResult(_ job: Job, name: String) {
        let stem = Self.stem(name)
        if job.state == .succeeded, let video = job.outputPath {
            let target = data.outbox + "/" + stem + ".mp4"
            try? FileManager.default.removeItem(atPath: target)
            // A hard link costs nothing on one file system; copy across file systems.
            if link(video, target) != 0 { try? FileManager.default.copyItem(atPath: video, toPath: target) }
        }
        try? JSONEncoder.spoolAPI.encode(JobResource(job)).write(
            to: URL(fileURLWithPath: data.outbox + "/" + stem + ".json"), options: .atomic)
        moveInputs(DropFolderInputs.named(in: FileManager.default.contents(atPath: processing + "/" + name) ?? Data()), from: processing, to: done)
        _ = rename(processing + "/" + name, uniquePath(in: done, name: name))
    }

    // MARK: Helpers

    /// Moves the files a job file brings with it from `source` into `folder`: under their own
    /// names (`renaming` false: where the job's submission looks for them), or under a name not
    /// yet taken there, so that no user file is overwritten.
    private func moveInputs(_ inputs: [DropFolderInputs.Input], from source: String, to folder: String, renaming: Bool = true) {
        for input in DropFolderInputs.files(of: inputs) {
            let target = renaming ? uniquePath(in: folder, name: input.file) : folder + "/" + input.file
            _ = rename(source + "/" + input.file, target)
        }
    }

    private func files(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// `folder/name`, or `folder/stem-2.json` … when taken: user files are never overwritten.
    private func uniquePath(in folder: String, name: String) -> String {
        var candidate = folder + "/" + name
        var n = 2
        while FileManager.default.fileExists(atPath: candidate) {
            let ext = URL(fileURLWithPath: name).pathExtension
            candidate = folder + "/" + Self.stem(name) + "-\(n)" + (ext.isEmpty ? "" : "." + ext)
            n += 1
        }
        return candidate
    }

    static func stem(_ name: String) -> String {
        name.hasSuffix(".json") ? String(name.dropLast(5)) : name
    }

    /// FNV-1a over the file's bytes: with the name, tells a re-dropped edited file from a retry.
    static func fingerprint(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
