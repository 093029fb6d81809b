#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import SpoolCore

/// The model-free worker: speaks worker protocol 1, writes test-pattern chunks.
///
/// Faults can be injected to exercise the daemon's handling of broken workers.
public struct SyntheticWorker: Sendable {
    /// A deliberate misbehaviour, for tests.
    public enum Fault: Hashable, Sendable {
        case crash(atChunk: Int)
        case exit(atChunk: Int, code: Int32)
        case hangAtStart
        case stall(atChunk: Int)
        case garbage(atChunk: Int)
        case shortChunk(Int)
        case wrongSize(Int)
        case noDone
        /// Starts a grandchild in the same process group, then hangs.
        case spawnChildThenHang
        /// Ignores SIGTERM and hangs, so only SIGKILL ends it.
        case ignoreTermThenHang
        /// Fails (exit 4) on attempts below this number, then works: for retry tests.
        case failAttemptsBelow(Int)
        /// Protocol 2: dies of SIGABRT once it has finished this many jobs, between jobs.
        case crashAfterJobs(Int)
        /// Protocol 2: never answers a cancel; only being killed stops the job.
        case ignoreCancel
        /// Protocol 2: says ready a second time when its first job starts.
        case readyTwice
        /// Protocol 2: announces its first chunk under another job's id.
        case chunkForAnotherJob
        /// Protocol 2: exits (status 0) after its first job, as a worker that is not really resident would.
        case exitAfterJob
        /// Protocol 2: answers every job `failed`, staying ready.
        case failJobs
        /// Dies (exit 5) while loading, before it is ready.
        case dieWhileLoading
        /// With `--tone`: chunk N's audio file holds half the samples its event declares.
        case shortAudio(Int)

        /// Parses `crash-at:3`, `hang`, `no-done`, …
        public init?(parsing text: String) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            let n = parts.count > 1 ? Int(parts[1]) : nil
            switch (parts[0], n) {
            case ("crash-at", let n?): self = .crash(atChunk: n)
            case ("exit-at", let n?): self = .exit(atChunk: n, code: 3)
            case ("hang", nil): self = .hangAtStart
            case ("stall-at", let n?): self = .stall(atChunk: n)
            case ("garbage-at", let n?): self = .garbage(atChunk: n)
            case ("short-chunk", let n?): self = .shortChunk(n)
            case ("wrong-size", let n?): self = .wrongSize(n)
            case ("no-done", nil): self = .noDone
            case ("spawn-child", nil): self = .spawnChildThenHang
            case ("ignore-term", nil): self = .ignoreTermThenHang
            case ("fail-attempts-below", let n?): self = .failAttemptsBelow(n)
            case ("crash-after-jobs", let n?): self = .crashAfterJobs(n)
            case ("ignore-cancel", nil): self = .ignoreCancel
            case ("ready-twice", nil): self = .readyTwice
            case ("chunk-for-another-job", nil): self = .chunkForAnotherJob
            case ("exit-after-job", nil): self = .exitAfterJob
            case ("fail-jobs", nil): self = .failJobs
            case ("die-while-loading", nil): self = .dieWhileLoading
            case ("short-audio", let n?): self = .shortAudio(n)
            default: return nil
            }
        }
    }

    /// A file the worker waits for before writing some of its chunks: how a test holds a
    /// job at a known point for as long as it needs, instead of hoping a slow job is slow
    /// enough. Written `PATH` or `PATH@N` (chunks from index N on wait; 0 when omitted).
    public struct Gate: Hashable, Sendable {
        public var path: String
        public var fromChunk: Int

        public init(path: String, fromChunk: Int = 0) {
            self.path = path
            self.fromChunk = fromChunk
        }

        public init?(parsing text: String) {
            if let at = text.lastIndex(of: "@"), let chunk = Int(text[text.index(after: at)...]), chunk >= 0 {
                self.init(path: String(text[..<at]), fromChunk: chunk)
            } else if !text.isEmpty {
                self.init(path: text)
            } else {
                return nil
            }
        }

        public var isOpen: Bool { access(path, F_OK) == 0 }
    }

    /// How one job ended, for the loop that runs it.
    public enum Ending: Equatable, Sendable {
        /// Every chunk announced, then `done`.
        case done
        /// Stopped on a cancel, before the end.
        case cancelled
        /// Refused: the request cannot be made (a bad input file); the worker stays.
        case failed(String)
        /// The process must exit with this status (a fault, or a chunk it could not write).
        case exit(Int32)
    }

    public var trim: ChunkPlan.Trim
    /// Stand-in for GPU time, slept per frame.
    public var frameCostMilliseconds: Double
    /// Stand-in for loading a model: slept before `ready` (resident) or before the first
    /// chunk (per job).
    public var loadSeconds: Double = 0
    public var stepsPerChunk: Int
    public var faults: [Fault]
    public var gate: Gate? {
        get { gates.first }
        set { gates = newValue.map { [$0] } ?? [] }
    }
    /// Every gate a chunk waits for: each chunk from a gate's `fromChunk` on waits for its file
    /// (a test can let chunk 3 through and hold chunk 4 with two).
    public var gates: [Gate] = []
    /// Announce a checkpoint after every chunk, and go on from one when a request says
    /// `resume`. Its frames depend only on the seed and their index, so a resumed job's frames
    /// are exactly an uninterrupted run's.
    public var checkpoints = false
    /// A flaw a real model can show, made on purpose so that quality scores can be checked
    /// against a clean run's.
    public var artefact: Artefact?
    /// Make sound (`--tone`): beside each chunk, a ``SyntheticTone`` in the request's `audio`
    /// format (48 kHz stereo when the request names none).
    public var tone = false

    /// The flaws ``artefact`` makes.
    public enum Artefact: String, Sendable, CaseIterable {
        /// A visible jump at every chunk boundary: the picture below the code band is 48
        /// levels brighter in odd chunks than in even ones (as a chunk decoded on its own can be).
        case seam
        /// Each chunk holds its first frame: every frame after it repeats it.
        case freeze
    }

    public init(
        trim: ChunkPlan.Trim = .none, frameCostMilliseconds: Double = 0, stepsPerChunk: Int = 4, faults: [Fault] = [],
        gate: Gate? = nil
    ) {
        self.trim = trim
        self.frameCostMilliseconds = frameCostMilliseconds
        self.stepsPerChunk = stepsPerChunk
        self.faults = faults
        self.gates = gate.map { [$0] } ?? []
    }

    /// Runs one job of a per-job worker (protocol 1): loads, then generates. Returns the
    /// process exit code.
    public func runOnce(_ request: WorkerRequest, emit: (WorkerEvent) -> Void, emitRaw: (String) -> Void) -> Int32 {
        if faults.contains(.hangAtStart) { hang() }
        let loaded = load()
        if loadSeconds > 0 {
            emit(.ready(WorkerReady(protocol: WorkerRequest.protocolVersion, worker: name, loadSeconds: loaded, pid: getpid())))
        }
        switch run(request, emit: emit, emitRaw: emitRaw, isCancelled: { false }) {
        case .done, .cancelled: return 0
        case .exit(let code): return code
        case .failed(let message):
            log(message)
            return 65
        }
    }

    public var name: String { "spool-synthetic-worker \(Spool.version)" }

    /// Sleeps ``loadSeconds``, as a model loading; returns the seconds it took.
    public func load() -> Double {
        if faults.contains(.dieWhileLoading) {
            log("synthetic fault: dying while loading")
            exit(5)
        }
        let start = DispatchTime.now()
        if loadSeconds > 0 { usleep(UInt32(loadSeconds * 1_000_000)) }
        return Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// Runs one job: `request` as read; events go to `emit`. `isCancelled` is asked between
    /// steps: a cancelled job stops there.
    public func run(
        _ request: WorkerRequest, emit: (WorkerEvent) -> Void, emitRaw: (String) -> Void, isCancelled: () -> Bool
    ) -> Ending {
        if faults.contains(.hangAtStart) { hang() }
        for fault in faults {
            if case .failAttemptsBelow(let n) = fault, request.attempt < n {
                log("synthetic fault: failing attempt \(request.attempt) on purpose")
                return .exit(4)
            }
        }
        if request.protocol == WorkerRequest.protocolVersion {
            emit(.hello(protocol: WorkerRequest.protocolVersion, worker: name))
        }
        if faults.contains(.spawnChildThenHang) {
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("300"), nil]
            posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
            log("synthetic fault: started grandchild \(pid), now hanging")
            hang()
        }
        if faults.contains(.ignoreTermThenHang) {
            signal(SIGTERM, SIG_IGN)
            log("synthetic fault: ignoring SIGTERM, now hanging")
            hang()
        }

        let plan = ChunkPlan(chunkFrames: request.chunkFrames, overlap: request.overlap, trim: trim)
        let chunks = plan.chunks(forFrames: request.frames)
        let conditioning: SyntheticConditioning
        do {
            conditioning = try SyntheticConditioning(request, chunks: chunks.count)
        } catch {
            return .failed("cannot condition job \(request.jobId): \(error)")
        }
        let frameBytes = request.width * request.height * 3
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: frameBytes, alignment: 64)
        defer { buffer.deallocate() }
        var resumedAfter = -1
        if let resume = request.resume {
            do {
                resumedAfter = try Self.resumePoint(resume, request: request, chunks: chunks.count)
            } catch {
                return .failed("cannot resume job \(request.jobId) after chunk \(resume.afterChunk): \(error)")
            }
        }

        for (index, chunk) in chunks.enumerated() where index > resumedAfter {
            for gate in gates where index >= gate.fromChunk {
                guard wait(at: gate, chunk: index, emit: emit, isCancelled: isCancelled) else { return .cancelled }
            }
            for fault in faults {
                switch fault {
                case .crash(let at) where at == index:
                    log("synthetic fault: crashing at chunk \(index)")
                    // A plain native crash: without the Swift runtime's backtrace on stderr.
                    signal(SIGABRT, SIG_DFL)
                    raise(SIGABRT)
                case .exit(let at, let code) where at == index:
                    log("synthetic fault: exiting with \(code) at chunk \(index)")
                    return .exit(code)
                case .stall(let at) where at == index:
                    log("synthetic fault: stalling at chunk \(index)")
                    hang()
                case .garbage(let at) where at == index:
                    emitRaw("this is not json {")
                default:
                    break
                }
            }
            for step in 1...stepsPerChunk {
                if isCancelled() { return .cancelled }
                let frames = Double(chunk.frames) / Double(stepsPerChunk)
                if frameCostMilliseconds > 0 { usleep(UInt32(frames * frameCostMilliseconds * 1_000)) }
                emit(.progress(chunk: index, step: step, steps: stepsPerChunk))
            }
            var width = request.width
            var height = request.height
            if faults.contains(.wrongSize(index)) {
                width /= 2
                height /= 2
            }
            let file = String(format: "chunk-%05d.rgb", index)
            do {
                try writeChunk(
                    file: file, in: request.workDir, index: index, firstFrame: chunk.firstFrame, frames: chunk.frames,
                    seed: request.seed, width: width, height: height, buffer: buffer, truncate: faults.contains(.shortChunk(index)),
                    conditioning: width == request.width ? conditioning : nil)
            } catch {
                log("cannot write \(file): \(error)")
                return .exit(2)
            }
            var audio: ChunkAudio?
            if tone {
                do {
                    audio = try writeTone(for: chunk, index: index, request: request, short: faults.contains(.shortAudio(index)))
                } catch {
                    log("cannot write chunk \(index)'s audio: \(error)")
                    return .exit(2)
                }
            }
            emit(.chunk(ChunkDescriptor(
                index: index, firstFrame: chunk.firstFrame, frames: chunk.frames, width: width, height: height, file: file,
                audio: audio)))
            if checkpoints {
                let state = SyntheticState(nextChunk: index + 1, nextFrame: chunk.firstFrame + chunk.frames, seed: request.seed)
                let name = String(format: "state-%05d.json", index)
                do {
                    // Atomic, not synced: Spool makes its own copy durable before relying on it.
                    try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: request.workDir + "/" + name), options: .atomic)
                } catch {
                    log("cannot write \(name): \(error)")
                    return .exit(2)
                }
                emit(.checkpoint(WorkerCheckpoint(afterChunk: index, stateFile: name)))
            }
        }
        if faults.contains(.noDone) { return .exit(0) }
        emit(.done(frames: plan.totalFrames(forFrames: request.frames), chunks: chunks.count))
        return .done
    }

    /// Writes a chunk's tone beside it (with `short`, half its samples under the full count).
    func writeTone(for chunk: (firstFrame: Int, frames: Int), index: Int, request: WorkerRequest, short: Bool) throws -> ChunkAudio {
        let format = request.audio ?? AudioFormat(sampleRate: 48_000, channels: 2)
        var (data, audio) = SyntheticTone.pcm(
            format: format, chunk: index, firstFrame: chunk.firstFrame, frames: chunk.frames, fps: request.fps)
        if short { data = data.prefix(data.count / 2) }
        try data.write(to: URL(fileURLWithPath: request.workDir + "/" + audio.file), options: .atomic)
        return audio
    }

    /// What this worker keeps at a checkpoint: where it goes on, and the seed that decides
    /// every frame (a state for another job's seed is refused).
    struct SyntheticState: Codable, Equatable {
        var nextChunk: Int
        var nextFrame: Int
        var seed: UInt64
    }

    struct ResumeError: Error, CustomStringConvertible {
        var description: String
    }

    /// The chunk a resume goes on after, once its state file is read and agrees with the
    /// request; throws why not otherwise.
    static func resumePoint(_ resume: WorkerResume, request: WorkerRequest, chunks: Int) throws -> Int {
        guard let data = FileManager.default.contents(atPath: resume.stateFile) else {
            throw ResumeError(description: "the state file \(resume.stateFile) cannot be read")
        }
        guard let state = try? JSONDecoder().decode(SyntheticState.self, from: data) else {
            throw ResumeError(description: "the state file \(resume.stateFile) is not this worker's state")
        }
        guard state.seed == request.seed else {
            throw ResumeError(description: "the state is for seed \(state.seed), the job's is \(request.seed)")
        }
        guard state.nextChunk == resume.afterChunk + 1, (0..<chunks).contains(resume.afterChunk) else {
            throw ResumeError(description: "the state goes on at chunk \(state.nextChunk), of \(chunks)")
        }
        return resume.afterChunk
    }

    /// Writes a chunk under a temporary name and renames it into place, so a reader
    /// never sees half a chunk.
    private func writeChunk(
        file: String, in folder: String, index: Int, firstFrame: Int, frames: Int, seed: UInt64, width: Int, height: Int,
        buffer: UnsafeMutableRawBufferPointer, truncate: Bool, conditioning: SyntheticConditioning?
    ) throws {
        let temporary = "\(folder)/.\(file).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let frameBytes = width * height * 3
        for frame in 0..<frames {
            let pictured = artefact == .freeze ? firstFrame : firstFrame + frame
            TestPattern.render(index: pictured, seed: seed, width: width, height: height, into: buffer)
            if let conditioning, !conditioning.isEmpty {
                conditioning.apply(frame: firstFrame + frame, chunk: index, width: width, height: height, to: buffer)
            }
            if artefact == .seam, index % 2 == 1 {
                let picture = TestPattern.bandHeight(height) * width * 3
                for offset in picture..<frameBytes {
                    buffer[offset] = UInt8(min(255, Int(buffer[offset]) + 48))
                }
            }
            var count = frameBytes
            if truncate && frame == frames - 1 { count /= 2 }
            var written = 0
            while written < count {
                let n = write(fd, buffer.baseAddress! + written, min(count - written, Self.writePiece))
                guard n > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                written += n
            }
        }
        guard rename(temporary, "\(folder)/\(file)") == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    /// The most one `write` hands the kernel. On a kernel without preemption a whole 720p
    /// frame (2.7 MB) holds the CPU for about a millisecond; a real model's worker writes
    /// between GPU steps, where this one would otherwise crowd out the daemon's API.
    static let writePiece = 256 << 10

    /// Waits until the gate's file exists, saying every second that it is still alive (a
    /// progress event at step 0), as a model working through a long chunk would. False when
    /// the job was cancelled meanwhile.
    private func wait(at gate: Gate, chunk: Int, emit: (WorkerEvent) -> Void, isCancelled: () -> Bool) -> Bool {
        var waited = 0
        while !gate.isOpen {
            if isCancelled() { return false }
            if waited % 200 == 0 { emit(.progress(chunk: chunk, step: 0, steps: stepsPerChunk)) }
            usleep(5_000)
            waited += 1
        }
        return true
    }

    private func hang() -> Never {
        while true { sleep(1_000) }
    }

    func log(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }
}
