import Foundation
import SpoolCore
import Synchronization
import SpoolGenerators
import Testing

/// Tiny, randomly initialised checkpoints of each model family, built once per test process
/// by the family's own `Pipelines/<family>/make_tiny.py --all`: loaded by the workers through
/// the same `from_pretrained` as the published weights, at a size a CPU runs in seconds.
public enum TinyModels {
    /// The Python environment has PyTorch, diffusers and the rest of what the workers need.
    /// With `SPOOL_REQUIRE_PYTHON=1` (CI) a missing one fails the tests instead of skipping them.
    public static var isAvailable: Bool {
        if PythonTools.isRequired { return true }
        guard let python = PythonTools.python else {
            print("note: model worker tests skipped: no Python environment (run scripts/setup-python.sh)")
            return false
        }
        let found = (try? runProcess([python, "-c", "import torch, diffusers, transformers, accelerate, ftfy"]).status) == 0
        if !found { print("note: model worker tests skipped: \(python) lacks torch/diffusers (run scripts/setup-python.sh)") }
        return found
    }

    private static let built = Mutex<[String: Task<String, any Error>]>([:])

    /// The folder holding one folder per layout of `family` (`helios`: base, mid, distilled;
    /// `wan`: t2v, ti2v, i2v; `ltx`: ltx), built on first use.
    public static func checkpoints(_ family: String) async throws -> String {
        let task = built.withLock { tasks in
            if let task = tasks[family] { return task }
            let made = Task<String, any Error> {
                try await onThread {
                    let folder = NSTemporaryDirectory() + "spool-tiny-\(family)-\(getpid())"
                    guard let python = PythonTools.python else { throw ProbeError(message: "no Python environment for the \(family) tests") }
                    let result = try runProcess([python, Repository.pipelines + "/\(family)/make_tiny.py", folder, "--all"])
                    guard result.status == 0 else {
                        throw ProbeError(message: "\(family)/make_tiny.py failed (\(result.status)): \(result.stderr.suffix(2_000))")
                    }
                    return folder
                }
            }
            tasks[family] = made
            return made
        }
        return try await task.value
    }
}

/// Tiny Wan checkpoints (`Pipelines/wan/make_tiny.py`) and pipelines that run
/// `Pipelines/wan/worker.py` on them on the CPU.
public enum TinyWan {
    public enum Layout: String, Sendable, CaseIterable {
        /// WanPipeline as Wan 2.1 T2V: text, one clip a job.
        case t2v
        /// WanPipeline with expand_timesteps as Wan 2.2 TI2V: text or an image, chained clips.
        case ti2v
        /// WanImageToVideoPipeline as Wan 2.1 I2V, with a CLIP image encoder: an image, chained clips.
        case i2v
    }

    /// A resident pipeline on `layout`, in clips of `clipFrames` (4k+1), 64x48 by default;
    /// `trace` names the worker's trace file (`SPOOL_WAN_TRACE`).
    public static func pipeline(
        _ layout: Layout, name: String? = nil, clipFrames: Int = 9, options: [String: String] = ["steps": "2"],
        trace: String? = nil, device: String? = "cpu", checkpoints: Bool = false
    ) async throws -> PipelineDefinition {
        let folder = try await TinyModels.checkpoints("wan") + "/" + layout.rawValue
        var command = [PythonTools.python ?? "python3", Repository.pipelines + "/wan/worker.py", "--model", folder]
        if let device { command += ["--device", device] }
        if checkpoints { command += ["--checkpoints", "on"] }
        var environment: [String: String] = ["OMP_NUM_THREADS": "1"]
        if let trace { environment["SPOOL_WAN_TRACE"] = trace }
        let chains = layout != .t2v
        return PipelineDefinition(
            name: name ?? "wan-\(layout.rawValue)-tiny", command: command, environment: environment,
            chunking: .init(frames: clipFrames, overlap: chains ? 1 : 0, overlapPolicy: .drop),
            sizes: .init(default: FrameSize(width: 64, height: 48), multipleOf: 16),
            maxFrames: chains ? JobSpec.maxFrames : clipFrames,
            timeouts: .init(startupSeconds: 300, stallSeconds: 120, cancelSeconds: 30),
            options: options, jobOptions: ["steps", "guidance_scale"], inputs: .init(image: chains),
            resident: true, checkpoints: checkpoints)
    }
}

/// A tiny LTX-Video checkpoint (`Pipelines/ltx/make_tiny.py`) and pipelines that run
/// `Pipelines/ltx/worker.py` on it on the CPU.
public enum TinyLTX {
    /// A resident pipeline in clips of `clipFrames` (8k+1), each after the first continuing
    /// from the last `overlap` frames of the one before; 96x64 by default.
    public static func pipeline(
        name: String = "ltx-tiny", clipFrames: Int = 17, overlap: Int = 9, options: [String: String] = ["steps": "2"],
        trace: String? = nil, checkpoints: Bool = false
    ) async throws -> PipelineDefinition {
        let folder = try await TinyModels.checkpoints("ltx") + "/ltx"
        var command = [PythonTools.python ?? "python3", Repository.pipelines + "/ltx/worker.py", "--model", folder, "--device", "cpu"]
        if checkpoints { command += ["--checkpoints", "on"] }
        var environment: [String: String] = ["OMP_NUM_THREADS": "1"]
        if let trace { environment["SPOOL_LTX_TRACE"] = trace }
        return PipelineDefinition(
            name: name, command: command, environment: environment,
            chunking: .init(frames: clipFrames, overlap: overlap, overlapPolicy: .drop),
            sizes: .init(default: FrameSize(width: 96, height: 64), multipleOf: 32),
            timeouts: .init(startupSeconds: 300, stallSeconds: 120, cancelSeconds: 30),
            options: options,
            jobOptions: ["steps", "guidance_scale", "decode_timestep", "decode_noise_scale", "image_cond_noise_scale"],
            inputs: .init(image: true, video: true, minVideoFrames: max(1, overlap)), resident: true, checkpoints: checkpoints)
    }
}

/// A tiny LTX-2 checkpoint (`Pipelines/ltx2/make_tiny.py`: a 2-layer Gemma 3, the audio-video
/// transformer, the video and audio VAEs and a vocoder making 16 kHz stereo) and pipelines that
/// run `Pipelines/ltx2/worker.py` on it on the CPU.
public enum TinyLTX2 {
    /// The tiny vocoder's rate, which its pipelines declare.
    public static let audio = AudioFormat(sampleRate: 16_000, channels: 2)

    /// A resident pipeline in clips of `clipFrames` (8k+1), each after the first continuing
    /// from the last `overlap` frames of the one before; 96x64 by default, with sound.
    public static func pipeline(
        name: String = "ltx2-tiny", clipFrames: Int = 17, overlap: Int = 9,
        options: [String: String] = ["steps": "2", "stg_scale": "0"], trace: String? = nil, audio: AudioFormat? = TinyLTX2.audio
    ) async throws -> PipelineDefinition {
        let folder = try await TinyModels.checkpoints("ltx2") + "/ltx2"
        let command = [PythonTools.python ?? "python3", Repository.pipelines + "/ltx2/worker.py", "--model", folder, "--device", "cpu"]
        var environment: [String: String] = ["OMP_NUM_THREADS": "1"]
        if let trace { environment["SPOOL_LTX2_TRACE"] = trace }
        return PipelineDefinition(
            name: name, command: command, environment: environment,
            chunking: .init(frames: clipFrames, overlap: overlap, overlapPolicy: .drop),
            sizes: .init(default: FrameSize(width: 96, height: 64), multipleOf: 32),
            timeouts: .init(startupSeconds: 300, stallSeconds: 120, cancelSeconds: 30),
            options: options, jobOptions: ["steps", "guidance_scale", "audio_guidance_scale", "stg_scale"],
            inputs: .init(image: true, video: true, minVideoFrames: max(1, overlap)), resident: true, audio: audio)
    }
}

/// Runs each test it marks alone among the tests so marked, in this process. Two kinds of suite
/// take turns: those that start real model workers (PyTorch and diffusers, hundreds of MB and
/// seconds of import each, a core busy for minutes), and those whose hosts run on real leases
/// and drains (the outage, checkpoint, fleet and shared-queue suites), which a busy core beside them can make miss a
/// renewal. On a 2-core machine the first once starved a PostgreSQL connection of its 5 s, and a
/// host in the outage test stopped renewing while a Wan worker ran beside it. Within a suite,
/// `.serialized` still orders its tests.
public struct TakesTurns: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // Suites are scoped too; only the test cases take the turn.
        guard testCase != nil else { return try await function() }
        await Self.turn.acquire()
        defer { Self.turn.release() }
        try await function()
    }

    static let turn = AsyncTurn()
}

extension Trait where Self == TakesTurns {
    /// ``TakesTurns``.
    public static var takesTurns: Self { TakesTurns() }
}

/// A first-come, first-served lock for async code: `acquire` suspends (it never blocks a thread).
final class AsyncTurn: Sendable {
    private struct State {
        var held = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Bool in
                if !state.held {
                    state.held = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.held = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}

/// A resident model worker on the CPU with its trace (`spoolkit.Trace`), and the harness that
/// runs its jobs: what every model family's worker tests hold.
public struct TracedWorker: Sendable {
    public let harness: ResidentHarness
    public let trace: WorkerTrace
    /// The size its jobs are made at unless a run says otherwise.
    public let size: FrameSize

    /// `pipeline` makes the worker's pipeline, given the path its trace is to be written to.
    public init(size: FrameSize, _ pipeline: (_ trace: String) async throws -> PipelineDefinition) async throws {
        let folder = try TemporaryDirectory("model-trace")
        trace = WorkerTrace(path: folder.file("trace.jsonl"))
        harness = try ResidentHarness(try await pipeline(trace.path))
        self.size = size
    }

    public func run(
        frames: Int, size: FrameSize? = nil, prompt: String = "a fox runs through snow", options: [String: String] = [:],
        conditioning: WorkerConditioning? = nil, resume: WorkerResume? = nil,
        onEvent: ((WorkerEvent, String, WorkerRun) -> Void)? = nil
    ) async -> ResidentHarness.Outcome {
        await harness.run(
            frames: frames, size: size ?? self.size, prompt: prompt, options: options, conditioning: conditioning,
            resume: resume, onEvent: onEvent)
    }

    /// The trace's `clip` records of the last job it saw, in order.
    public var lastClips: [[String: any Sendable]] {
        guard let job = trace.records("clip").last?["job_id"] as? String else { return [] }
        return trace.records("clip", job: job)
    }
}
