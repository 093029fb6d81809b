import Foundation
import SpoolCore
import SpoolGenerators
import SpoolTesting
import Testing

/// `Pipelines/spoolkit`, the worker protocol every Python worker imports, run for real: a
/// model-free worker on it (`Kit/kit_worker.py`, plain Python) driven over both protocols by
/// Spool's own worker driver, and by hand where Spool would never send what is tested.
@Suite("Python worker kit (Pipelines/spoolkit)")
struct WorkerKitTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Kit/kit_worker.py").path
    static var python: String { PythonTools.python ?? "python3" }
    static let environment = ["SPOOL_KIT_PATH": Repository.pipelines]

    static func pipeline(resident: Bool = true, arguments: [String] = [], stall: Double = 30, audio: AudioFormat? = nil) -> PipelineDefinition {
        PipelineDefinition(
            name: "kit", command: [python, script] + arguments, environment: environment,
            chunking: .init(frames: 8), sizes: .init(default: FrameSize(width: 32, height: 16)),
            timeouts: .init(startupSeconds: 120, stallSeconds: stall, cancelSeconds: 30), jobOptions: ["mode", "steps"],
            resident: resident, audio: audio)
    }

    // Sound (issue 29): the kit fits a model's sound to each chunk's frames and writes it beside
    // them as 16-bit PCM in the pipeline's format; a mismatch fails the job alone.
    @Test func theKitWritesEachChunksSoundFittedToItsFrames() async throws {
        let harness = try ResidentHarness(Self.pipeline(audio: AudioFormat(sampleRate: 48_000, channels: 2)))
        defer { harness.worker.stop() }
        var files: [Int: Data] = [:]
        let outcome = await harness.run(frames: 20, options: ["mode": "sound"], onEvent: { event, workDir, _ in
            if case .chunk(let chunk) = event, let audio = chunk.audio {
                files[chunk.index] = FileManager.default.contents(atPath: workDir + "/" + audio.file)
            }
        })
        #expect(outcome.error == nil, "\(String(describing: outcome.error))")
        // 8, 8 and 4 frames at 48 kHz and 24 FPS: 16,000, 16,000 and 8,000 samples, the model's
        // 37 extra cut; mono made stereo.
        #expect(outcome.chunks.map { $0.audio?.samples } == [16_000, 16_000, 8_000])
        #expect(outcome.chunks.allSatisfy { $0.audio?.channels == 2 && $0.audio?.format == .s16le && $0.audio?.sampleRate == 48_000 })
        #expect(files.mapValues(\.count) == [0: 64_000, 1: 64_000, 2: 32_000])
        // Left and right alike; the sine's first quarter period rises from 0 to 0.5 (16,384).
        let first = try #require(files[0]).withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        #expect(first[0] == 0 && first[0] == first[1] && first[54] == first[55])
        #expect((16_000...16_384).contains(Int(first.enumerated().filter { $0.offset % 2 == 0 }.prefix(40).map(\.element).max() ?? 0)))

        for (mode, message) in [
            ("sound-rate", "the model's sound is 49000 Hz; the pipeline file declares 48000 Hz"),
            ("sound-none", "chunk 0 has no sound; the pipeline file declares \"audio\""),
        ] {
            let failed = await harness.run(frames: 12, options: ["mode": mode])
            #expect(failed.error?.message.contains(message) == true, "\(mode): \(String(describing: failed.error))")
        }
        #expect(harness.worker.isReady)
        // A pipeline without sound refuses a model's sound.
        let silent = try ResidentHarness(Self.pipeline())
        defer { silent.worker.stop() }
        let refused = await silent.run(frames: 12, options: ["mode": "sound"])
        #expect(refused.error?.message.contains("the model made sound, but its pipeline file declares no \"audio\"") == true,
                "\(String(describing: refused.error))")
    }

    @Test func aResidentWorkerServesJobsAndKeepsStdoutForEventsOnly() async throws {
        let harness = try ResidentHarness(Self.pipeline())
        defer { harness.worker.stop() }
        let load = try await harness.worker.waitUntilReady()
        #expect(load.report.worker == "kit-test-worker")
        #expect(load.report.pid == harness.worker.processGroup)
        // A model printing to stdout (Python's print, and a child process's echo) breaks nothing.
        for mode in ["ok", "print"] {
            let outcome = await harness.run(frames: 20, options: ["mode": mode])
            #expect(outcome.error == nil, "\(mode): \(String(describing: outcome.error))")
            #expect(outcome.chunks.map(\.frames) == [8, 8, 4])
            #expect(outcome.chunks.map(\.firstFrame) == [0, 8, 16])
            #expect(outcome.events.last == .done(frames: 20, chunks: 3))
            #expect(outcome.events.contains(.progress(chunk: 2, step: 2, steps: 2)))
        }
        #expect(harness.worker.stderr.contains("noise from the model, chunk 0"))
        #expect(harness.worker.stderr.contains("noise from a child process"))
        #expect(harness.worker.jobsServed == 2 && harness.worker.isReady)
    }

    @Test("a job the model cannot make fails alone; the worker takes the next", arguments: [
        ("refuse", "the worker could not generate the job: refused by the model"),
        ("raise", "the worker could not generate the job: ValueError: boom"),
        ("no-done", "the model returned without finishing the job (it never called done)"),
        ("wrong-size", "a chunk of 73727 bytes is not whole 64x48 RGB24 frames"),
    ])
    func failedJobs(mode: String, message: String) async throws {
        let harness = try ResidentHarness(Self.pipeline())
        defer { harness.worker.stop() }
        let outcome = await harness.run(frames: 12, options: ["mode": mode])
        let error = try #require(outcome.error)
        #expect(error.kind == .jobFailed)
        #expect(error.message.contains(message), "\(error.message)")
        #expect(harness.worker.isReady)
        #expect(await harness.run(frames: 12).error == nil, "the next job runs on the same worker")
        #expect(harness.exitsSeen == 0)
    }

    @Test func checkpointsAfterChunksAndAResumeGoesOnFromOne() async throws {
        let harness = try ResidentHarness(Self.pipeline())
        defer { harness.worker.stop() }
        var first: String?
        let whole = await harness.run(frames: 20, options: ["mode": "checkpoint"], onEvent: { _, workDir, _ in first = workDir })
        #expect(whole.error == nil, "\(String(describing: whole.error))")
        let checkpoints = whole.events.compactMap { if case .checkpoint(let c) = $0 { c } else { nil } }
        #expect(checkpoints.map(\.afterChunk) == [0, 1, 2])
        let workDir = try #require(first)
        let state = workDir + "/" + checkpoints[1].stateFile
        #expect(try String(contentsOfFile: state, encoding: .utf8) == #"{"next_frame": 16}"#)

        // Another attempt goes on after chunk 1: only the last chunk, at frame 16, the same
        // pixels as the whole run's (a grey by frame index).
        let resumed = await harness.run(
            frames: 20, options: ["mode": "checkpoint"], resume: WorkerResume(afterChunk: 1, firstFrame: 16, stateFile: state),
            onEvent: { event, workDir, _ in
                if case .chunk(let chunk) = event, let data = FileManager.default.contents(atPath: workDir + "/" + chunk.file) {
                    #expect(data.first == 16)
                }
            })
        #expect(resumed.error == nil, "\(String(describing: resumed.error))")
        #expect(resumed.chunks.map(\.index) == [2] && resumed.chunks.map(\.firstFrame) == [16])
        #expect(resumed.events.last == .done(frames: 20, chunks: 3))

        // A state the worker cannot read: it refuses the job, saying why; the worker stays.
        let refused = await harness.run(
            frames: 20, options: ["mode": "checkpoint"],
            resume: WorkerResume(afterChunk: 1, firstFrame: 16, stateFile: workDir + "/state-gone.bin"))
        #expect(refused.error?.kind == .jobFailed)
        #expect(refused.error?.message.contains("cannot resume after chunk 1: the state file") == true, "\(String(describing: refused.error))")
        #expect(refused.chunks.isEmpty && harness.worker.isReady)
    }

    @Test("a checkpoint Spool cannot keep ends the job, saying why", arguments: [
        ("checkpoint-early", "a checkpoint after chunk 1, which it has not announced"),
        ("checkpoint-missing", "chunk 0's checkpoint names state-missing.bin, which is missing"),
        ("checkpoint-link", "chunk 0's checkpoint names state-link.bin, a symbolic link; write the state file itself"),
    ])
    func badCheckpoints(mode: String, message: String) async throws {
        let harness = try ResidentHarness(Self.pipeline())
        defer { harness.worker.stop() }
        let outcome = await harness.run(frames: 12, size: FrameSize(width: 32, height: 16), options: ["mode": mode])
        let error = try #require(outcome.error)
        #expect(error.kind == .badChunk)
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func aCancelStopsTheJobAtItsNextStepAndTheWorkerStays() async throws {
        let harness = try ResidentHarness(Self.pipeline())
        defer { harness.worker.stop() }
        let outcome = await harness.run(frames: 12, options: ["mode": "hold"], onEvent: { event, _, run in
            if case .progress = event { run.cancel(reason: "cancelled by the test") }
        })
        #expect(outcome.error?.kind == .cancelled)
        #expect(outcome.error?.message == "cancelled by the test")
        #expect(harness.worker.isReady && harness.exitsSeen == 0)
        #expect(await harness.run(frames: 12).error == nil)
    }

    @Test func aWorkerThatCannotLoadDiesSayingWhy() async throws {
        let harness = try ResidentHarness(Self.pipeline(arguments: ["--die-loading"]))
        await #expect {
            _ = try await harness.worker.waitUntilReady()
        } throws: { error in
            guard let error = error as? GenerationError else { return false }
            return error.kind == .loadFailed && error.message.contains("exited with status 78 before it was ready")
                && error.stderrTail.contains("kit-test worker: this host has no GPU for the kit test worker")
        }
    }

    @Test func perJobTheKitServesOneJobAndExits() async throws {
        let harness = try WorkerHarness()
        let outcome = await harness.run(Self.pipeline(resident: false), frames: 20)
        #expect(outcome.error == nil, "\(String(describing: outcome.error))")
        #expect(outcome.chunks.map(\.frames) == [8, 8, 4])
        #expect(outcome.events.last == .done(frames: 20, chunks: 3))
        var refusing = Self.pipeline(resident: false)
        refusing.options = ["mode": "refuse"]
        let refused = await (try WorkerHarness()).run(refusing, frames: 20)
        #expect(refused.error?.kind == .exitedWithError)
        #expect(refused.error?.message.contains("exited with status 1") == true, "\(String(describing: refused.error))")
        #expect(refused.error?.stderrTail.contains("refused by the model") == true)
    }

    @Test("what Spool never sends ends the worker with status 65, saying what it read", arguments: [
        ("2", "this is not json\n", "cannot read a request line on stdin"),
        ("2", "{\"protocol\": 1, \"job_id\": \"x\"}\n", "expected a protocol 2 job request"),
        ("3", "", "protocol 3 is not supported; this worker speaks 1 and 2"),
        ("1", "{", "cannot read the job request on stdin"),
    ])
    func garbageOnStdin(protocol version: String, input: String, message: String) async throws {
        let result = try await onThread {
            try runProcess(
                [Self.python, Self.script], stdin: Data(input.utf8),
                environment: Self.environment.merging(["SPOOL_PROTOCOL": version]) { $1 })
        }
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        // stdout holds protocol events only: a ready line, or nothing.
        for line in result.stdoutText.split(separator: "\n") {
            #expect(line.hasPrefix("{\"event\":\"ready\""), "\(line)")
        }
    }
}
