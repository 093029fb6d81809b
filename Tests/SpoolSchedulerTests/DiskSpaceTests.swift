import Foundation
import SpoolCore
import SpoolScheduler
import SpoolSQLite
import SpoolTesting
import Testing

/// Disk space is a resource like a GPU: a job waits for it rather than fail for want of it,
/// and when a disk fills anyway the job ends, and says so, instead of staying `running`.
/// On a real file system of 64 MiB (tmpfs), data folder, store and all.
@Suite("Disk space", .serialized, .enabled(if: Tmpfs.isAvailable))
struct DiskSpaceTests {
    @Test func aJobWaitsForSpaceWithAReasonAndRunsOnceThereIsRoom() async throws {
        let disk = try Tmpfs(sizeMiB: 64)
        let host = try await TestHost { configuration in
            configuration.data = DataDirectory(disk.path)
            configuration.minFreeSpaceBytes = 8 << 20
        }
        defer { Task { await host.stop() } }
        try disk.fill(leaving: 4 << 20)
        let job = try await host.submit(frames: 24)
        let waiting = try await host.wait(for: job.id) { $0.waitingReason?.contains("waiting for disk space") == true }
        #expect(waiting.state == .queued && waiting.attempts == 0, "waits, not counted as an attempt")
        #expect(waiting.waitingReason?.contains("the work folder \(disk.path)/work has") == true, "\(waiting.waitingReason ?? "")")
        #expect(await host.host.dispatcher.diskSpaceShortage != nil)
        disk.empty()
        let done = try await host.wait(for: job.id, state: .succeeded)
        #expect(done.attempts == 1)
        #expect(try await host.store.attempts(of: job.id).map(\.outcome) == [.generated])
        #expect(await host.host.dispatcher.diskSpaceShortage == nil)
    }

    @Test func aDiskThatFillsMidJobFailsItSayingSoAndTheNextJobRuns() async throws {
        let disk = try Tmpfs(sizeMiB: 64)
        let gate = try WorkerGate()
        // 640x384: 8-frame chunks of 5.9 MB.
        var pipeline = Fixtures.synthetic(name: "gated", gate: gate, gateFromChunk: 1)
        pipeline.sizes.default = FrameSize(width: 640, height: 384)
        let host = try await TestHost(pipelines: [pipeline], maxAttempts: 3) { configuration in
            configuration.data = DataDirectory(disk.path)
            configuration.minFreeSpaceBytes = 4 << 20
            configuration.rawBacklogBytes = 16 << 20
        }
        defer { Task { await host.stop() } }
        let job = try await host.submit(frames: 64, pipeline: "gated")
        try await host.wait(for: job.id) { $0.progress.chunksDone >= 1 }
        // Now something else takes the disk, the store's own file system included.
        try disk.fill(leaving: 1 << 20)
        gate.open()
        let failed = try await host.wait(for: job.id, state: .failed)
        let error = try #require(failed.error)
        #expect(error.hasPrefix("no space left on the "), "\(error)")
        #expect(error.contains("No space left on device"), "\(error)")
        #expect(failed.attempts == 1, "not retried into a full disk")
        // Nothing of the attempt is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path + "/work").isEmpty)
        let videos = try FileManager.default.contentsOfDirectory(atPath: disk.path + "/videos")
        #expect(videos.isEmpty, "\(videos) \(error)")

        disk.empty()
        let next = try await host.submit(frames: 16)
        try await host.wait(for: next.id, state: .succeeded)
    }
}
