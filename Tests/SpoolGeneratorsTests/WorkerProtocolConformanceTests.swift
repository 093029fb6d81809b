import Foundation
import SpoolCore
import SpoolGenerators
import SpoolSynthetic
import SpoolTesting
import Synchronization
import Testing

/// The worker protocol, run for real against the synthetic worker and deliberately
/// broken variants of it. Every case must end as described, leave no process of the
/// worker's group alive and touch nothing outside the work directory.
@Suite("Worker protocol conformance")
struct WorkerProtocolConformanceTests {
    let harness: WorkerHarness

    init() throws { harness = try WorkerHarness() }

    /// Nothing of the worker survives: no live process in its group (read from /proc) nor
    /// any other process working in its work directory; and no file appeared beside it.
    func expectNoSurvivors(_ outcome: WorkerHarness.Outcome, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let group = try #require(outcome.processGroup, sourceLocation: sourceLocation)
        #expect(WorkerLauncher.liveProcesses(inGroup: group) == 0, "process group \(group) is still alive", sourceLocation: sourceLocation)
        let survivors = processesWithCwd(harness.workDir)
        #expect(survivors.isEmpty, "processes still running in the work directory: \(survivors)", sourceLocation: sourceLocation)
        #expect(outcome.strayFiles.isEmpty, "files outside the work directory: \(outcome.strayFiles)", sourceLocation: sourceLocation)
    }

    func processesWithCwd(_ folder: String) -> [Int32] {
        let target = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        return pids.filter { pid in
            guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") else { return false }
            guard cwd == target else { return false }
            return processState(pid) != "Z"
        }
    }

    @Test func aHealthyWorkerDeliversEveryChunkThenDone() async throws {
        let outcome = await harness.run(Fixtures.synthetic(), frames: 20)
        #expect(outcome.error == nil)
        guard case .hello(1, let name)? = outcome.events.first else {
            Issue.record("first event should be hello, got \(String(describing: outcome.events.first))")
            return
        }
        #expect(name.hasPrefix("spool-synthetic-worker"))
        #expect(outcome.chunks.map(\.index) == [0, 1, 2])
        #expect(outcome.chunks.map(\.firstFrame) == [0, 8, 16])
        #expect(outcome.chunks.map(\.frames) == [8, 8, 8])
        #expect(outcome.events.last == .done(frames: 24, chunks: 3))
        #expect(outcome.events.contains(.progress(chunk: 1, step: 4, steps: 4)))
        for chunk in outcome.chunks {
            let bytes = try FileManager.default.attributesOfItem(atPath: "\(harness.workDir)/\(chunk.file)")[.size] as? Int
            #expect(bytes == chunk.expectedBytes)
        }
        // The chunk's frames carry their own indices.
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(harness.workDir)/\(outcome.chunks[1].file)"))
        let luma = stride(from: 0, to: 64 * 48 * 3, by: 3).map { data[$0] }  // red channel of frame 0 of chunk 1
        #expect(luma.withUnsafeBytes { TestPattern.decode(luma: $0, width: 64, height: 48).index } == 8)
        try await expectNoSurvivors(outcome)
    }

    /// Checkpoints (pipelines with `"checkpoints": true`): one after each chunk, and a resumed
    /// attempt, in a work directory of its own, makes exactly the chunks after it, byte for byte.
    @Test func aCheckpointedWorkerResumesAfterAChunkWithTheSameFrames() async throws {
        var pipeline = Fixtures.synthetic(arguments: ["--checkpoints", "on"])
        pipeline.checkpoints = true
        let whole = await harness.run(pipeline, frames: 20)
        #expect(whole.error == nil, "\(String(describing: whole.error))")
        let checkpoints = whole.events.compactMap { if case .checkpoint(let c) = $0 { c } else { nil } }
        #expect(checkpoints.map(\.afterChunk) == [0, 1, 2])
        // Each right after its chunk, in the order of the stream.
        let order = whole.events.compactMap { event -> String? in
            switch event {
            case .chunk(let c): "chunk \(c.index)"
            case .checkpoint(let c): "checkpoint \(c.afterChunk)"
            default: nil
            }
        }
        #expect(order == ["chunk 0", "checkpoint 0", "chunk 1", "checkpoint 1", "chunk 2", "checkpoint 2"])
        let state = harness.workDir + "/" + checkpoints[1].stateFile
        let lastChunk = try Data(contentsOf: URL(fileURLWithPath: harness.workDir + "/" + whole.chunks[2].file))

        let second = try WorkerHarness()
        let resumed = await second.run(pipeline, frames: 20, resume: WorkerResume(afterChunk: 1, firstFrame: 16, stateFile: state))
        #expect(resumed.error == nil, "\(String(describing: resumed.error))")
        #expect(resumed.chunks.map(\.index) == [2] && resumed.chunks.map(\.firstFrame) == [16])
        #expect(resumed.events.last == .done(frames: 24, chunks: 3))
        #expect(try Data(contentsOf: URL(fileURLWithPath: second.workDir + "/" + resumed.chunks[0].file)) == lastChunk)
        try await expectNoSurvivors(whole)

        // A state that cannot be used is refused, saying why; nothing is made from it.
        let third = try WorkerHarness()
        let refused = await third.run(pipeline, frames: 20, resume: WorkerResume(afterChunk: 1, firstFrame: 16, stateFile: state + ".gone"))
        #expect(refused.error?.kind == .exitedWithError)
        #expect(refused.error?.stderrTail.contains("cannot resume job") == true, "\(String(describing: refused.error))")
        #expect(refused.error?.stderrTail.contains("the state file \(state).gone cannot be read") == true)
        #expect(refused.chunks.isEmpty)
    }

    @Test func heliosShapedChunksAreTrimmedLikeTheModel() async throws {
        // 1,440 asked: 44 chunks, 1,452 decoded, 1,449 returned.
        let plan = ChunkPlan(chunkFrames: 33, overlap: 0, trim: .helios)
        #expect(plan.chunks(forFrames: 1_440).count == 44)
        #expect(plan.totalFrames(forFrames: 1_440) == 1_449)
        // 99 asked: 3 chunks would keep 97, so the model runs a fourth, as the Helios worker does.
        #expect(plan.chunks(forFrames: 99).count == 4 && plan.totalFrames(forFrames: 99) == 129)
        #expect(plan.chunks(forFrames: 97).count == 3 && plan.totalFrames(forFrames: 97) == 97)
        let outcome = await harness.run(
            Fixtures.synthetic(arguments: ["--trim", "helios"], chunkFrames: 33), frames: 100)
        #expect(outcome.error == nil)
        #expect(outcome.chunks.map(\.frames) == [33, 33, 33, 30])
        #expect(outcome.events.last == .done(frames: 129, chunks: 4))
    }

    @Test func overlappingShapesDeclareTheirOverlap() async throws {
        let outcome = await harness.run(Fixtures.synthetic(chunkFrames: 12, overlap: 4), frames: 30)
        #expect(outcome.error == nil)
        #expect(outcome.chunks.map(\.firstFrame) == [0, 8, 16, 24])
        #expect(outcome.chunks.map(\.frames) == [12, 12, 12, 12])
    }

    @Test("broken workers fail the attempt with a message that says what happened", arguments: [
        ("crash-at:1", GenerationError.Kind.crashed, "crashed after chunk 0: killed by signal 6"),
        ("exit-at:2", .exitedWithError, "exited with status 3 after chunk 1"),
        ("garbage-at:1", .malformedOutput, "not a protocol event: this is not json {"),
        ("short-chunk:1", .badChunk, "chunk 1 file chunk-00001.rgb is"),
        ("wrong-size:0", .badChunk, "chunk 0 is 32x24 but the job is 64x48"),
        ("no-done", .exitedWithoutDone, "exited after chunk 2 without printing done"),
    ])
    func brokenWorkers(fault: String, kind: GenerationError.Kind, message: String) async throws {
        let outcome = await harness.run(Fixtures.synthetic(arguments: ["--fault", fault]), frames: 20)
        let error = try #require(outcome.error)
        #expect(error.kind == kind)
        #expect(error.message.contains(message), "\(error.message)")
        #expect(error.isRetryable)
        try await expectNoSurvivors(outcome)
    }

    @Test func theStderrTailIsPartOfTheMessage() async throws {
        let outcome = await harness.run(Fixtures.synthetic(arguments: ["--fault", "crash-at:0"]))
        #expect(outcome.error?.description.contains("synthetic fault: crashing at chunk 0") == true)
    }

    @Test func aWorkerThatNeverSpeaksHitsTheStartupTimeout() async throws {
        // The worker hangs for ever: the run ending at all means it was killed. (No bound on
        // how long that took: a loaded machine stalled four such tests past 10 s at once.)
        let outcome = await harness.run(Fixtures.synthetic(arguments: ["--fault", "hang"], startup: 0.5))
        #expect(outcome.error?.kind == .startupTimeout)
        #expect(outcome.error?.message == "the worker printed nothing within 0.5 s of starting")
        try await expectNoSurvivors(outcome)
    }

    @Test func aWorkerThatStallsMidVideoIsKilled() async throws {
        // The stall is a hang for ever at chunk 2; 3 s, not less, so that a loaded machine's
        // pause before chunk 1 is not taken for it (see ResidentWorkerTests.brokenWorkers).
        let outcome = await harness.run(Fixtures.synthetic(arguments: ["--fault", "stall-at:2"], stall: 3))
        #expect(outcome.error?.kind == .stalled)
        #expect(outcome.error?.message == "the worker stalled after chunk 1: no event for 3 s")
        #expect(outcome.chunks.count == 2)
        try await expectNoSurvivors(outcome)
    }

    /// 8-frame chunks at 100 ms a frame, a progress event every 200 ms.
    static let slowWorker = ["--frame-cost-ms", "100"]

    @Test func aPausedWorkerStopsUntilResumedAndIsNotTakenForStalled() async throws {
        // Held for 5 s after its first chunk with a 2 s stall limit, the worker would be
        // "stalled" if the pause counted as its silence. Running, it speaks every 10 ms, so
        // the limit leaves a loaded machine two seconds to run it after the pause.
        let seen = Mutex<[String]>([])
        let harness = harness
        let outcome = await harness.run(Fixtures.synthetic(arguments: ["--frame-cost-ms", "5"], stall: 2), frames: 24, onStart: { run in
            harness.afterFirstChunk {
                let group = run.processGroup
                run.pause()
                while let state = processState(group), state != "T" { Thread.sleep(forTimeInterval: 0.002) }
                let files = try? FileManager.default.contentsOfDirectory(atPath: harness.workDir).sorted()
                let stateThen = processState(group) ?? "gone"
                // The hold under test: until the stall watchdog has seen the paused worker
                // silent for 5 s, more than twice the limit, and let it be.
                run.waitForPausedSilence(atLeast: 5)
                let unchanged = (try? FileManager.default.contentsOfDirectory(atPath: harness.workDir).sorted()) == files
                seen.withLock { $0 = [stateThen, processState(group) ?? "gone", "unchanged: \(unchanged)"] }
                run.resume()
            }
        })
        #expect(outcome.error == nil, "\(outcome.error.map { "\($0)" } ?? "")")
        #expect(seen.withLock { $0 } == ["T", "T", "unchanged: true"])
        #expect(outcome.chunks.map(\.index) == [0, 1, 2])
        #expect(outcome.seconds >= 5)
        try await expectNoSurvivors(outcome)
    }

    @Test func aPausedWorkerCanStillBeCancelled() async throws {
        let harness = harness
        let outcome = await harness.run(
            Fixtures.synthetic(arguments: Self.slowWorker), frames: 24, launcher: WorkerLauncher(terminationGrace: 600),
            onStart: { run in
                harness.afterFirstChunk {
                    run.pause()
                    while let state = processState(run.processGroup), state != "T" {
                        Thread.sleep(forTimeInterval: 0.002)
                    }
                    run.cancel(reason: "cancelled by the test")
                }
            })
        #expect(outcome.error?.kind == .cancelled)
        // The SIGKILL would come after 600 s: half of that is a bound no stall of a loaded machine reaches.
        #expect(outcome.seconds < 300, "stopped by SIGTERM, not by the SIGKILL ten minutes later")
        try await expectNoSurvivors(outcome)
    }

    @Test func theTimeLimitStopsALongJob() async throws {
        // Held at a gate that never opens, the worker never finishes by itself.
        let gate = try WorkerGate()
        let outcome = await harness.run(Fixtures.synthetic(gate: gate, gateFromChunk: 1), frames: 200, timeLimit: 0.5)
        #expect(outcome.error?.kind == .timeLimit)
        try await expectNoSurvivors(outcome)
    }

    @Test func cancellingKillsTheWholeProcessGroupGrandchildrenIncluded() async throws {
        // Cancelled once the grandchild is alive beside the worker in its group; neither ever
        // exits by itself.
        let outcome = await harness.run(
            Fixtures.synthetic(arguments: ["--fault", "spawn-child"]), cancelWhen: { WorkerLauncher.liveProcesses(inGroup: $0) >= 2 })
        #expect(outcome.error?.kind == .cancelled)
        #expect(outcome.error?.isRetryable == false)
        try await expectNoSurvivors(outcome)
    }

    @Test func aWorkerIgnoringSIGTERMIsKilledAfterTheGracePeriod() async throws {
        // Cancelled once the worker ignores SIGTERM, so only the SIGKILL after the grace can end it.
        let outcome = await harness.run(
            Fixtures.synthetic(arguments: ["--fault", "ignore-term"]), cancelWhen: { processIgnores($0, signal: SIGTERM) },
            launcher: WorkerLauncher(terminationGrace: 0.3))
        #expect(outcome.error?.kind == .cancelled)
        try await expectNoSurvivors(outcome)
    }

    @Test func aMissingExecutableFailsToSpawnClearly() async throws {
        var pipeline = Fixtures.synthetic()
        pipeline.command = ["/nonexistent/worker"]
        let outcome = await harness.run(pipeline)
        #expect(outcome.error?.kind == .spawnFailed)
        #expect(outcome.error?.message.contains("/nonexistent/worker was not found") == true)
    }

    @Test func theWorkerSeesOnlyItsGPUAndItsWorkDirectory() async throws {
        var pipeline = Fixtures.synthetic()
        pipeline.command = [
            "/bin/sh", "-c",
            #"cat > /dev/null; echo "CUDA=[$CUDA_VISIBLE_DEVICES] PWD=$(pwd) WORK=$SPOOL_WORK_DIR" >&2; exit 9"#,
        ]
        let outcome = await harness.run(pipeline)
        let tail = outcome.error?.stderrTail ?? ""
        #expect(tail.contains("CUDA=[]"))
        let work = URL(fileURLWithPath: harness.workDir).resolvingSymlinksInPath().path
        #expect(tail.contains("PWD=\(work)"))
        #expect(outcome.error?.kind == .exitedWithError)
    }
}

@Suite("Shipped pipelines")
struct ShippedPipelineTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines").path

    @Test("the shipped model pipelines fail to load at once, saying what is missing, on a host without CUDA",
          arguments: ["helios", "helios-distilled", "wan", "wan-t2v", "ltx-video", "ltx2"])
    func heliosRefusesAHostWithoutCUDA(name: String) async throws {
        let catalog = try PipelineCatalog.load(folder: Self.folder)
        let pipeline = try #require(catalog[name])
        #expect(pipeline.resident && pipeline.requiresCUDA)
        // No GPU is visible to it (the harness empties CUDA_VISIBLE_DEVICES), and `python3` is
        // the system's: without PyTorch, or with PyTorch and no GPU, it must say which.
        let harness = try ResidentHarness(pipeline, pipelineFolder: Self.folder)
        let started = ContinuousClock.now
        do {
            _ = try await harness.worker.waitUntilReady()
            Issue.record("\(name) loaded without a GPU")
        } catch let error as GenerationError {
            #expect(error.kind == .loadFailed)
            #expect(error.message.contains("status 78"), "\(error.message)")
            #expect(error.stderrTail.contains("needs PyTorch") || error.stderrTail.contains("needs a CUDA GPU"), "\(error.stderrTail)")
        }
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    @Test func theSyntheticPipelinesRunAsShipped() async throws {
        let catalog = try PipelineCatalog.load(folder: Self.folder)
        for name in ["synthetic", "synthetic-framepack", "synthetic-skyreels", "synthetic-tone"] {
            let harness = try WorkerHarness()
            var pipeline = try #require(catalog[name])
            pipeline.sizes.default = FrameSize(width: 64, height: 48)
            let outcome = await harness.run(pipeline, frames: 100)
            #expect(outcome.error == nil, "\(name): \(String(describing: outcome.error))")
            let last = try #require(outcome.chunks.last)
            #expect(last.endFrame >= 100, "\(name)")
            // The tone pipeline's chunks carry 48 kHz stereo: 66,000 samples for 33 frames.
            #expect(outcome.chunks.allSatisfy { $0.audio?.samples == (name == "synthetic-tone" ? $0.frames * 2_000 : nil) }, "\(name)")
            harness.root.remove()
        }
        // The resident one, as a slot runs it: loaded once (3 s), two jobs.
        var resident = try #require(catalog["synthetic-resident"])
        resident.sizes.default = FrameSize(width: 64, height: 48)
        let harness = try ResidentHarness(resident)
        defer { harness.worker.stop() }
        for _ in 0..<2 {
            let outcome = await harness.run(frames: 100)
            #expect(outcome.error == nil, "synthetic-resident: \(String(describing: outcome.error))")
            #expect((outcome.chunks.last?.endFrame ?? 0) >= 100)
        }
        #expect(harness.worker.jobsServed == 2)
    }
}
