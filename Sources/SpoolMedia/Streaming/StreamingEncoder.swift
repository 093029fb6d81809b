import CFFmpeg
import CSpoolSystem
import Foundation
import SpoolCore
import Synchronization

/// Stitches a job's chunks into one MP4 while they are still arriving.
///
/// Chunks go in with ``add(_:)`` in any order; a dedicated thread (never Swift's
/// cooperative pool) places them with a ``FrameAssembler``, reads each placed frame from
/// its chunk file into one reusable buffer and feeds the encoder. Chunks that cannot be
/// placed yet wait as file references, so memory stays flat however long the video:
/// one RGB frame (two while cross-fading) plus the encoder's own look-ahead.
/// `@unchecked Sendable`: its mutable state is read and written only under `condition`; the
/// FFmpeg objects belong to its encoding thread alone.
public final class StreamingEncoder: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var workDir: String
        public var outputPath: String
        /// A PNG of the first frame, when set.
        public var posterPath: String?
        public var size: FrameSize
        public var fps: Int
        public var targetFrames: Int
        public var overlap: Int
        public var policy: OverlapPolicy
        /// Delete each chunk file once every frame it contributes has been encoded.
        public var deleteConsumedChunks: Bool
        /// How the encoding thread and the encoder's threads compete for the CPU.
        public var priority: EncodingPriority
        /// The most bytes of raw frames handed over and not yet encoded before the session
        /// asks for the producer to be held (see ``StreamingEncoder/init(_:encoders:limiter:onProgress:hold:)``);
        /// nil: no bound.
        public var backlogLimitBytes: Int?
        /// Frames the video starts with before the generated ones (a clip the job continues
        /// and asked to include): a raw RGB24 file of `size` frames, and how many it holds.
        public var leadingFrames: (path: String, count: Int)?
        /// Also write the video as a live HLS playlist while it encodes.
        public var live: LivePreview?
        /// Also keep the video segment by segment, for a later attempt to go on from.
        public var kept: KeptSegments?
        /// Go on from an earlier attempt's kept video.
        public var resume: StreamingEncoder.Resume?
        /// The sound every chunk carries, muxed as an AAC track; nil: a silent video.
        public var audio: AudioFormat?

        public init(
            workDir: String, outputPath: String, posterPath: String? = nil, size: FrameSize, fps: Int = 24,
            targetFrames: Int, overlap: Int = 0, policy: OverlapPolicy = .drop, deleteConsumedChunks: Bool = false,
            priority: EncodingPriority = .default, backlogLimitBytes: Int? = nil, leadingFrames: (path: String, count: Int)? = nil,
            live: LivePreview? = nil, kept: KeptSegments? = nil, resume: StreamingEncoder.Resume? = nil,
            audio: AudioFormat? = nil
        ) {
            precondition(audio == nil || resume == nil, "a video with sound does not go on from a kept video")
            self.audio = audio
            self.live = live
            self.kept = kept
            self.resume = resume
            self.workDir = workDir
            self.outputPath = outputPath
            self.posterPath = posterPath
            self.size = size
            self.fps = fps
            self.targetFrames = targetFrames
            self.overlap = overlap
            self.policy = policy
            self.deleteConsumedChunks = deleteConsumedChunks
            self.priority = priority
            self.backlogLimitBytes = backlogLimitBytes
            self.leadingFrames = leadingFrames
        }
    }

    /// Where an attempt goes on from an earlier one's kept video: its frames are remuxed, not
    /// encoded again, and the chunks that follow are placed after them.
    public struct Resume: Sendable {
        public var prefix: EncodedPrefix
        /// The raw frames of the last kept chunk past the kept video (its overlap with the
        /// next chunk), as a chunk file in the work folder; no frames without overlap.
        public var tail: ChunkDescriptor
        /// The poster is in place at ``Configuration/posterPath`` already.
        public var posterInPlace: Bool

        public init(prefix: EncodedPrefix, tail: ChunkDescriptor, posterInPlace: Bool) {
            self.prefix = prefix
            self.tail = tail
            self.posterInPlace = posterInPlace
        }
    }

    /// The finished video and what it took.
    public struct Outcome: Sendable, Hashable {
        public var video: EncodedVideo
        public var posterPath: String?
        /// Time the encoding thread spent working (not waiting for chunks), in seconds.
        public var busySeconds: Double
        /// What was measured of the frames this session encoded (a resumed attempt's: those
        /// after its checkpoint; an included clip's are not the model's and are left out).
        public var quality: VideoQuality?
    }

    private enum Message {
        case chunk(ChunkDescriptor)
        case finish
        case cancel
    }

    public let configuration: Configuration
    private let factory: any VideoEncoderFactory
    private let limiter: EncoderLimiter?
    private let onProgress: @Sendable (Int) -> Void
    private let hold: @Sendable (Bool) -> Void

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var messages: [Message] = []
    /// Raw bytes of the chunks handed over and not yet consumed.
    private var backlogBytes = 0
    private var holding = false
    private var failure: (any Error)?
    private var outcome: Outcome?
    private var waiters: [CheckedContinuation<Outcome, any Error>] = []
    private var ended = false
    /// Set by ``cancel()``; read by the encoding thread between frames, without the lock.
    private let cancelRequested = Atomic<Bool>(false)

    /// Starts the encoding thread. Nothing is written until the first frame can be placed.
    ///
    /// - Parameters:
    ///   - onProgress: called on the encoding thread with the number of frames encoded so
    ///     far, after each chunk's frames.
    ///   - hold: called with `true` when the backlog of raw frames passes
    ///     ``Configuration/backlogLimitBytes`` while the encoding thread has chunks queued,
    ///     and with `false` once it is down to half the limit, or the thread has nothing
    ///     queued it could work on (it may be waiting for a chunk the producer has yet to
    ///     write, so holding the producer longer could never end), or the session ends.
    ///     Calls alternate, starting with `true`, and are made in order.
    public init(
        _ configuration: Configuration, encoders: any VideoEncoderFactory, limiter: EncoderLimiter? = nil,
        onProgress: @escaping @Sendable (Int) -> Void = { _ in }, hold: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.factory = encoders
        self.limiter = limiter
        self.onProgress = onProgress
        self.hold = hold
        let thread = Thread { [self] in run() }
        thread.name = "spool-encoder"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Hands a chunk over. Throws the session's failure if it already failed, so a caller
    /// learns of a bad chunk by the next one at the latest.
    public func add(_ chunk: ChunkDescriptor) throws {
        try send(.chunk(chunk))
    }

    /// Raw bytes of the chunks handed over and not yet consumed by the encoder.
    public var backlog: Int {
        condition.lock()
        defer { condition.unlock() }
        return backlogBytes
    }

    /// Declares that no more chunks come, and waits for the MP4 to be closed.
    public func finish() async throws -> Outcome {
        try send(.finish)
        return try await end()
    }

    /// Stops encoding and deletes the partial output. Safe to call at any time.
    ///
    /// The cancellation goes ahead of the chunks still queued (they are dropped, not encoded)
    /// and stops the chunk being encoded at its next frame. It used to wait its turn behind
    /// the whole backlog: encoding runs at idle priority, so on a busy host a cancelled or
    /// interrupted job's ending (and a draining host's SIGTERM with it) waited for every queued
    /// frame to be encoded for nothing; under six busy loops on two cores a drain of one
    /// 64x64 job ran past its 11 s bound.
    public func cancel() {
        cancelRequested.store(true, ordering: .relaxed)
        condition.lock()
        if !ended {
            messages.removeAll()
            messages.append(.cancel)
        }
        condition.signal()
        condition.unlock()
    }

    /// Stops encoding and returns once the session has ended and its partial output (MP4
    /// and poster) is gone.
    public func cancelAndWait() async {
        cancel()
        _ = try? await end()
    }

    /// How the session ended, once it has.
    private func end() async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            defer { condition.unlock() }
            if let outcome { continuation.resume(returning: outcome) }
            else if let failure { continuation.resume(throwing: failure) }
            else { waiters.append(continuation) }
        }
    }

    /// The failure that ended the session, if any.
    public var error: (any Error)? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    private func send(_ message: Message) throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        guard !ended else { return }
        messages.append(message)
        if case .chunk(let chunk) = message {
            backlogBytes += chunk.expectedBytes
            if let limit = configuration.backlogLimitBytes, !holding, backlogBytes > limit {
                holding = true
                hold(true)
            }
        }
        condition.signal()
    }

    /// On the encoding thread, after a chunk: what it consumed leaves the backlog, and the
    /// producer goes on when the backlog is low or nothing queued is left to work on.
    private func worked(consumed: [ChunkDescriptor]) {
        condition.lock()
        defer { condition.unlock() }
        backlogBytes -= consumed.reduce(0) { $0 + $1.expectedBytes }
        let chunkQueued = messages.contains { if case .chunk = $0 { true } else { false } }
        if holding, let limit = configuration.backlogLimitBytes, backlogBytes <= limit / 2 || !chunkQueued {
            holding = false
            hold(false)
        }
    }

    // MARK: The encoding thread

    private func run() {
        spool_set_thread_name("spool-encoder")
        // Before the encoder exists: its threads inherit the setting.
        configuration.priority.applyToCurrentThread()
        let work: Work
        do {
            work = try Work(configuration: configuration, factory: factory) { [self] in
                cancelRequested.load(ordering: .relaxed)
            }
        } catch {
            end(.failure(error))
            return
        }
        var busy = 0.0
        while true {
            condition.lock()
            while messages.isEmpty { condition.wait() }
            let message = messages.removeFirst()
            condition.unlock()

            if case .cancel = message {
                // Not behind other jobs' encodes either: abandoning takes no encoder's turn.
                work.abandon()
                end(.failure(CancellationError()))
                return
            }
            let started = DispatchTime.now().uptimeNanoseconds
            limiter?.acquire()
            do {
                switch message {
                case .chunk(let chunk):
                    let step = try work.assembler.add(chunk)
                    try work.encode(step)
                    worked(consumed: step.consumed)
                    onProgress(work.framesEncoded)
                case .finish:
                    try work.encode(work.assembler.finish())
                    let video = try work.close()
                    limiter?.release()
                    busy += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                    onProgress(work.framesEncoded)
                    end(.success(Outcome(video: video, posterPath: work.posterWritten, busySeconds: busy, quality: work.meter.result())))
                    return
                case .cancel:
                    preconditionFailure("handled before the limiter")
                }
            } catch {
                limiter?.release()
                work.abandon()
                end(.failure(error))
                return
            }
            limiter?.release()
            busy += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        }
    }

    private func end(_ result: Result<Outcome, any Error>) {
        condition.lock()
        ended = true
        messages.removeAll()
        if holding {
            holding = false
            hold(false)
        }
        switch result {
        case .success(let value): outcome = value
        case .failure(let error): failure = error
        }
        let toResume = waiters
        waiters.removeAll()
        condition.unlock()
        for waiter in toResume { waiter.resume(with: result) }
    }
}

/// The encoding thread's state; touched only by that thread.
private final class Work {
    let configuration: StreamingEncoder.Configuration
    let factory: any VideoEncoderFactory
    var assembler: FrameAssembler
    let reader: ChunkFrameReader
    /// The chunks' sound, for a video with sound.
    let audio: ChunkAudioReader?
    /// The current frame's sound (interleaved), handed to the encoder with its pixels.
    var samples: [Float] = []
    let buffer: UnsafeMutableRawBufferPointer
    var encoder: (any VideoEncoder)?
    var framesEncoded = 0
    var posterWritten: String?
    /// Frames a resumed attempt places before its first chunk's (the kept tail, under `drop`).
    var resumedStep: FrameAssembler.Step?
    /// Whether the session was cancelled: checked before each frame.
    let cancelled: () -> Bool
    /// Seams, flicker, freezes and drift, measured on each generated frame as it is encoded.
    var meter: QualityMeter

    init(configuration: StreamingEncoder.Configuration, factory: any VideoEncoderFactory, cancelled: @escaping () -> Bool) throws {
        self.configuration = configuration
        self.factory = factory
        self.cancelled = cancelled
        meter = QualityMeter(size: configuration.size)
        assembler = FrameAssembler(
            targetFrames: configuration.targetFrames, overlap: configuration.overlap, policy: configuration.policy,
            frameSize: configuration.size)
        reader = ChunkFrameReader(folder: configuration.workDir, frameSize: configuration.size)
        audio = configuration.audio.map { ChunkAudioReader(folder: configuration.workDir, format: $0, fps: configuration.fps) }
        buffer = .allocate(byteCount: configuration.size.rgb24FrameBytes, alignment: 64)
        if let resume = configuration.resume {
            precondition(configuration.leadingFrames == nil, "a job that includes a clip does not resume")
            resumedStep = try assembler.resume(after: resume.tail, framesPlanned: resume.prefix.frames)
            framesEncoded = resume.prefix.frames
            if resume.posterInPlace { posterWritten = configuration.posterPath }
        }
    }

    deinit { buffer.deallocate() }

    func encode(_ step: FrameAssembler.Step) throws {
        if let resumed = resumedStep {
            resumedStep = nil
            try encode(resumed)
        }
        if !step.frames.isEmpty { try encodeLeadingFrames() }
        for frame in step.frames {
            try reader.read(frame, into: buffer)
            if let audio {
                samples.removeAll(keepingCapacity: true)
                try audio.append(frame, to: &samples)
            }
            try encodeBuffer()
            meter.add(UnsafeRawBufferPointer(buffer), chunk: frame.chunk)
        }
        for chunk in step.consumed {
            reader.release(chunk, delete: configuration.deleteConsumedChunks)
            audio?.release(chunk, delete: configuration.deleteConsumedChunks)
        }
    }

    /// The frame in `buffer` goes into the video (its first also into the poster).
    private func encodeBuffer() throws {
        if cancelled() { throw CancellationError() }
        if encoder == nil {
            encoder = try factory.makeEncoder(
                path: configuration.outputPath, size: configuration.size, fps: configuration.fps, live: configuration.live,
                kept: configuration.kept, prefix: configuration.resume?.prefix, audio: configuration.audio)
        }
        if framesEncoded == 0, let poster = configuration.posterPath {
            try PosterWriter.writePNG(UnsafeRawBufferPointer(buffer), size: configuration.size, to: poster)
            posterWritten = poster
        }
        try encoder!.encode(UnsafeRawBufferPointer(buffer))
        if audio != nil { try samples.withUnsafeBufferPointer { (samples) throws(MediaError) in try encoder!.encodeAudio(samples) } }
        framesEncoded += 1
    }

    private var leadingDone = false

    /// The included clip, once, before the first generated frame.
    private func encodeLeadingFrames() throws {
        guard !leadingDone, let leading = configuration.leadingFrames else { return }
        leadingDone = true
        guard let file = FileHandle(forReadingAtPath: leading.path) else {
            throw MediaError("including the clip", code: spool_averror(EIO), message: "\(leading.path) cannot be read")
        }
        defer { try? file.close() }
        for index in 0..<leading.count {
            guard let data = try file.read(upToCount: buffer.count), data.count == buffer.count else {
                throw MediaError("including the clip", code: spool_averror(EIO), message: "it ends at frame \(index) of \(leading.count)")
            }
            data.copyBytes(to: buffer)
            if let audio {
                samples.removeAll(keepingCapacity: true)
                audio.appendSilence(frames: 1, from: framesEncoded, to: &samples)
            }
            try encodeBuffer()
        }
    }

    func close() throws -> EncodedVideo {
        guard let encoder else {
            throw ChunkError(chunk: 0, "never arrived: no frames to encode")
        }
        self.encoder = nil
        return try encoder.finish()
    }

    /// Drops the encoder and whatever it wrote.
    func abandon() {
        encoder = nil
        unlink(configuration.outputPath)
        if let poster = posterWritten { unlink(poster) }
    }
}
