import Foundation
import Logging
import ServiceLifecycle
import SpoolAPIModel
import SpoolCore
import SpoolScheduler
import SpoolServer
import SpoolSQLite
import SpoolTesting
import Testing

@Suite("Drop folder", .serialized)
struct DropFolderTests {
    /// Runs a drop-folder service over `host` until `body` returns.
    func withDropFolder(
        _ host: TestHost, settle: Double = 0.2, siblingWait: Double = 30, _ body: (DropFolderService) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = DropFolderService(
            host: host.host, configuration: .init(settleSeconds: settle, pollSeconds: 0.05, siblingWaitSeconds: siblingWait), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        let task = Task { try await group.run() }
        try await body(service)
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Waits until the service has made `count` more passes over the inbox.
    func passes(_ count: Int, of service: DropFolderService) async throws {
        let target = service.scans + count
        try await until("\(count) passes over the inbox") { service.scans >= target }
    }

    var data: (TestHost) -> DataDirectory { { $0.host.configuration.data } }

    /// Writes `text` elsewhere and renames it into the inbox, as `mv` would.
    func drop(_ name: String, _ text: String, into host: TestHost) throws {
        let staging = host.directory.file(".staging-\(name)")
        try text.write(toFile: staging, atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: data(host).inbox, withIntermediateDirectories: true)
        #expect(rename(staging, data(host).inbox + "/" + name) == 0)
    }

    /// Waits for `path` with the suite-wide hang guard (``until``): a job here encodes at idle
    /// priority, and its own 30 s guard once ran out on a 2-core machine busy with model workers.
    func waitForFile(_ path: String) async throws {
        try await until("\(path) to appear") { FileManager.default.fileExists(atPath: path) }
    }

    @Test func aValidFileComesOutAsAVideoAndAResult() async throws {
        let host = try await TestHost(slots: 1)
        defer { Task { await host.stop() } }
        try await withDropFolder(host) { _ in
            try drop("fox.json", #"{"prompt": "a fox", "frames": 24}"#, into: host)
            try await waitForFile(data(host).outbox + "/fox.json")
            let result = try JSONDecoder.spoolAPI.decode(JobResource.self, from: Data(contentsOf: URL(fileURLWithPath: data(host).outbox + "/fox.json")))
            #expect(result.state == .succeeded)
            #expect(result.spec.outputName == "fox")
            #expect(try MediaProbe(path: data(host).outbox + "/fox.mp4").frames == 24)
            // The original is kept, never deleted.
            #expect(FileManager.default.fileExists(atPath: data(host).inbox + "/.done/fox.json"))
            #expect(!FileManager.default.fileExists(atPath: data(host).inbox + "/fox.json"))
        }
    }

    @Test func invalidFilesMoveToFailedWithEveryProblemNamed() async throws {
        let host = try await TestHost(slots: 1)
        defer { Task { await host.stop() } }
        try await withDropFolder(host) { _ in
            try drop("broken.json", "{nope", into: host)
            try drop("bad.json", #"{"prompt": "", "frames": 0, "width": 641, "height": 384}"#, into: host)
            try await waitForFile(data(host).failed + "/bad.error.json")
            try await waitForFile(data(host).failed + "/broken.error.json")
            #expect(FileManager.default.fileExists(atPath: data(host).failed + "/bad.json"))
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: data(host).failed + "/bad.error.json"))) as? [String: Any]
            let fields = Set((report?["issues"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["prompt", "frames", "width"])
            let broken = try String(contentsOfFile: data(host).failed + "/broken.error.json", encoding: .utf8)
            #expect(broken.contains("not a job file"))
            #expect(try await host.store.countsByState().values.reduce(0, +) == 0)
        }
    }

    @Test func aFileAWriterStillHoldsOpenIsNeverTakenHoweverLongItPauses() async throws {
        let host = try await TestHost(slots: 0)
        defer { Task { await host.stop() } }
        // No settle time at all: unchanged between two passes is settled. Only the open
        // descriptor can keep the file from being taken.
        try await withDropFolder(host, settle: 0) { service in
            let path = data(host).inbox + "/slow.json"
            try FileManager.default.createDirectory(atPath: data(host).inbox, withIntermediateDirectories: true)
            // Created in place and written in two parts, as a slow copy would.
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            try #require(fd >= 0)
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            try handle.write(contentsOf: Data(#"{"prompt": "a slow "#.utf8))
            // The writer pauses while the service looks, again and again.
            try await passes(4, of: service)
            #expect(FileManager.default.fileExists(atPath: path), "taken while a writer still held it open")
            try handle.write(contentsOf: Data(#"fox", "frames": 8}"#.utf8))
            try handle.close()
            try await until("the closed file is taken") { try await host.store.countsByState()[.queued] == 1 }
            #expect(!FileManager.default.fileExists(atPath: data(host).failed + "/slow.json"))
        }
    }

    @Test func aFileWrittenInPlaceIsTakenWhenItsWriterClosesIt() async throws {
        let host = try await TestHost(slots: 0)
        defer { Task { await host.stop() } }
        // A settle time no test waits out: the close, not the quiet, says the file is whole.
        try await withDropFolder(host, settle: 3_600) { service in
            // Once it has passed over the inbox, it watches it: the file arrives with events.
            try await passes(1, of: service)
            let fd = open(data(host).inbox + "/cp.json", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            try #require(fd >= 0)
            let text = Array(#"{"prompt": "copied", "frames": 8}"#.utf8)
            #expect(write(fd, text, text.count) == text.count)
            close(fd)
            try await until("the file is taken") { try await host.store.countsByState()[.queued] == 1 }
        }
    }

    @Test func linksFIFOsAndFoldersMoveToFailedUnfollowed() async throws {
        let host = try await TestHost(slots: 0)
        defer { Task { await host.stop() } }
        // A valid job file outside the inbox: a link to it must not submit it.
        let target = host.directory.file("elsewhere.json")
        let original = #"{"prompt": "not through a link", "frames": 8}"#
        try original.write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: data(host).inbox, withIntermediateDirectories: true)
        let inbox = data(host).inbox
        try await withDropFolder(host) { _ in
            #expect(symlink(target, inbox + "/link.json") == 0)
            #expect(mkfifo(inbox + "/pipe.json", 0o644) == 0)
            try FileManager.default.createDirectory(atPath: inbox + "/folder.json", withIntermediateDirectories: false)
            for (name, kind) in [("link", "a symbolic link"), ("pipe", "a FIFO"), ("folder", "a folder")] {
                try await waitForFile(data(host).failed + "/\(name).error.json")
                let report = try String(contentsOfFile: data(host).failed + "/\(name).error.json", encoding: .utf8)
                #expect(report.contains("is \(kind), not a regular file"), "\(report)")
            }
        }
        var info = stat()
        #expect(lstat(data(host).failed + "/link.json", &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "the link itself moved")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == original)
        #expect(try await host.store.countsByState().values.reduce(0, +) == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: inbox).filter { !$0.hasPrefix(".") }.isEmpty)
    }

    @Test func aThousandFilesAtOnceAreEachEnqueuedOnceAcrossARestart() async throws {
        let host = try await TestHost(slots: 0)
        defer { Task { await host.stop() } }
        let staging = host.directory.file("staging")
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: data(host).inbox, withIntermediateDirectories: true)
        for n in 0..<1_000 {
            try #"{"prompt": "job \#(n)", "frames": 8}"#.write(toFile: "\(staging)/job-\(n).json", atomically: false, encoding: .utf8)
        }
        for n in 0..<1_000 { rename("\(staging)/job-\(n).json", data(host).inbox + "/job-\(n).json") }
        // First run: stopped part-way through.
        try await withDropFolder(host) { _ in
            try await until("100 are enqueued") { try await host.store.countsByState()[.queued, default: 0] >= 100 }
        }
        let partway = try await host.store.countsByState()[.queued, default: 0]
        // Second run: the rest, and nothing twice.
        try await withDropFolder(host) { service in
            // However long a loaded machine takes, as long as files keep being enqueued.
            let queued = { try await host.store.countsByState()[.queued, default: 0] }
            try await until("all 1,000 are enqueued", progress: queued) { try await queued() >= 1_000 }
            // Another full pass over the inbox after the last: nothing left to enqueue twice.
            try await passes(2, of: service)
        }
        #expect(partway < 1_000)
        #expect(try await host.store.countsByState() == [.queued: 1_000])
        var seen = Set<String>()
        var cursor: String?
        repeat {
            let page = try await host.store.list(JobQuery(limit: 500, cursor: cursor))
            for job in page.jobs { seen.insert(job.spec.labels["spool.drop"] ?? "") }
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seen.count == 1_000)
        #expect(try FileManager.default.contentsOfDirectory(atPath: data(host).inbox).filter { !$0.hasPrefix(".") }.isEmpty)
    }

    // MARK: Inputs beside a job file

    /// A synthetic pipeline that takes an image.
    static let conditioned: PipelineDefinition = {
        var pipeline = Fixtures.synthetic(name: "conditioned")
        pipeline.inputs = .init(image: true, video: true, prompts: true)
        return pipeline
    }()

    @Test(.enabled(if: MediaProbe.toolsAvailable))
    func aJobFileWaitsForTheImageItNamesUntilThatIsCompleteToo() async throws {
        let host = try await TestHost(slots: 1, pipelines: [Self.conditioned])
        defer { Task { await host.stop() } }
        let size = FrameSize(width: 64, height: 48)
        try MediaFiles.write([MediaFiles.picture(size)], size: size, to: host.directory.file("fox.png"))
        let png = try Data(contentsOf: URL(fileURLWithPath: host.directory.file("fox.png")))
        try await withDropFolder(host) { service in
            try drop("fox.json", #"{"prompt": "a fox", "frames": 24, "pipeline": "conditioned", "image": "fox.png"}"#, into: host)
            // The image arrives written in place, half of it, its writer still holding it open.
            let inbox = data(host).inbox
            // Created by the descriptor it is written through: a create-and-close first would
            // be a complete (empty) file for as long as the writer took to open it again.
            let descriptor = open(inbox + "/fox.png", O_WRONLY | O_CREAT | O_EXCL, 0o644)
            #expect(descriptor >= 0)
            let writer = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            try writer.write(contentsOf: png.prefix(png.count / 2))
            try await passes(5, of: service)
            #expect(FileManager.default.fileExists(atPath: inbox + "/fox.json"), "the job file waits for its image")
            try writer.write(contentsOf: png.dropFirst(png.count / 2))
            try writer.close()
            try await waitForFile(data(host).outbox + "/fox.json")
            let result = try JSONDecoder.spoolAPI.decode(JobResource.self, from: Data(contentsOf: URL(fileURLWithPath: data(host).outbox + "/fox.json")))
            #expect(result.state == .succeeded, "\(result.error ?? "")")
            #expect(result.spec.image?.name == "fox.png" && result.spec.image?.width == 64)
            // Both moved together, and both retire together.
            #expect(FileManager.default.fileExists(atPath: inbox + "/.done/fox.json"))
            #expect(FileManager.default.fileExists(atPath: inbox + "/.done/fox.png"))
        }
    }

    @Test func aJobFileNamingAnImageThatNeverArrivesIsRefused() async throws {
        let host = try await TestHost(slots: 1, pipelines: [Self.conditioned])
        defer { Task { await host.stop() } }
        try await withDropFolder(host, siblingWait: 0.5) { _ in
            try drop("lonely.json", #"{"prompt": "a fox", "frames": 24, "pipeline": "conditioned", "image": "missing.png"}"#, into: host)
            try await waitForFile(data(host).failed + "/lonely.error.json")
            let report = try String(contentsOfFile: data(host).failed + "/lonely.error.json", encoding: .utf8)
            #expect(report.contains("names missing.png, which did not arrive in the inbox within 0.5 s"), "\(report)")
            #expect(report.contains("\"field\":\"image\""))
        }
    }

    @Test func aJobFileNamingAFileOutsideTheInboxNeverMovesIt() async throws {
        let host = try await TestHost(slots: 1, pipelines: [Self.conditioned])
        defer { Task { await host.stop() } }
        try await withDropFolder(host) { _ in
            // Beside the inbox, where "../" from it leads.
            let outside = URL(fileURLWithPath: data(host).inbox).deletingLastPathComponent().appendingPathComponent("precious.png").path
            #expect(FileManager.default.createFile(atPath: outside, contents: Data("keep me".utf8)))
            try drop("escape.json", #"{"prompt": "a fox", "frames": 24, "pipeline": "conditioned", "image": "../precious.png"}"#, into: host)
            try await waitForFile(data(host).failed + "/escape.error.json")
            let report = try String(contentsOfFile: data(host).failed + "/escape.error.json", encoding: .utf8)
            #expect(report.contains("an input is named by a plain file name in the inbox"), "\(report)")
            #expect(FileManager.default.contents(atPath: outside) == Data("keep me".utf8), "the file outside the inbox stayed where it was")
            #expect(!FileManager.default.fileExists(atPath: data(host).inbox + "/precious.png"))
        }
    }
}
