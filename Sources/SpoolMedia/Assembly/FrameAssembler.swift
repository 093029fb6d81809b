import SpoolCore

/// Puts chunks that arrive in any order into one frame sequence, strictly in order.
///
/// The assembler only plans: it says which output frame comes from which chunk frame
/// (or which two, for a cross-fade) and never touches pixels, so out-of-order chunks
/// wait as file references, not as frames in memory. Rules:
/// - Chunk `k` must start where chunk `k-1` ends minus the pipeline's overlap; earlier
///   is a conflict, later a gap. A chunk index seen twice is a duplicate.
/// - `drop` keeps the earlier chunk's copy of overlapping frames; `blend` cross-fades
///   linearly, so the earlier chunk's last `overlap` frames are held until the next chunk
///   (or ``finish()``) decides them.
/// - Frames past `targetFrames` are trimmed; fewer than that at ``finish()`` is an error.
public struct FrameAssembler: Sendable {
    /// What one call made ready.
    public struct Step: Hashable, Sendable {
        /// Frames to encode now, in output order.
        public var frames: [PlannedFrame]
        /// Chunks no planned frame will read again, once `frames` are encoded.
        public var consumed: [ChunkDescriptor]
    }

    public let targetFrames: Int
    public let overlap: Int
    public let policy: OverlapPolicy
    public let frameSize: FrameSize

    private var pending: [Int: ChunkDescriptor] = [:]
    private var nextChunk = 0
    private var previous: ChunkDescriptor?
    /// Whether `previous`'s file is still needed: only a cross-fade reads a chunk again
    /// once it has been placed.
    private var previousHeld = false
    /// Output frames planned so far.
    public private(set) var framesPlanned = 0
    private var finished = false

    public init(targetFrames: Int, overlap: Int, policy: OverlapPolicy, frameSize: FrameSize) {
        self.targetFrames = targetFrames
        self.overlap = overlap
        self.policy = policy
        self.frameSize = frameSize
    }

    /// Starts where an interrupted attempt's kept video ends: `framesPlanned` frames are in it
    /// already, and the next chunk is `tail.index + 1`. `tail` holds the raw frames of chunk
    /// `tail.index` past that point (the pipeline's overlap: `overlap` frames from `framesPlanned`
    /// on, none without overlap), which the next chunk overlaps as chunk `tail.index` itself
    /// would have been overlapped. Returns what can be placed at once: under `drop`, the tail's
    /// frames; under `blend` they wait for the next chunk's cross-fade.
    public mutating func resume(after tail: ChunkDescriptor, framesPlanned: Int) throws(ChunkError) -> Step {
        precondition(previous == nil && nextChunk == 0 && pending.isEmpty, "resume(after:framesPlanned:) before any chunk")
        if tail.frames != overlap {
            throw ChunkError(chunk: tail.index, "'s kept tail has \(tail.frames) frames; the pipeline overlaps by \(overlap)")
        }
        if tail.firstFrame != framesPlanned {
            throw ChunkError(chunk: tail.index, "'s kept tail starts at frame \(tail.firstFrame), not where the kept video ends (\(framesPlanned))")
        }
        nextChunk = tail.index + 1
        self.framesPlanned = framesPlanned
        previous = tail
        var step = Step(frames: [], consumed: [])
        if policy == .blend && overlap > 0 {
            previousHeld = true
        } else {
            emit((0..<tail.frames).map { .copy(.init(chunk: tail, offset: $0)) }, from: tail, into: &step)
            previousHeld = false
            if tail.frames > 0 { step.consumed.append(tail) }
        }
        return step
    }

    /// Chunks received but not yet placed, waiting for an earlier one.
    public var waitingChunks: Int { pending.count }

    /// Accepts a chunk and returns every frame that can now be placed.
    public mutating func add(_ chunk: ChunkDescriptor) throws(ChunkError) -> Step {
        precondition(!finished, "add(_:) after finish()")
        if chunk.index < nextChunk || pending[chunk.index] != nil {
            throw ChunkError(chunk: chunk.index, "arrived twice")
        }
        if chunk.index < 0 { throw ChunkError(chunk: chunk.index, "has a negative index") }
        if chunk.size != frameSize { throw ChunkError(chunk: chunk.index, "is \(chunk.size) but the job is \(frameSize)") }
        pending[chunk.index] = chunk
        var step = Step(frames: [], consumed: [])
        while let next = pending.removeValue(forKey: nextChunk) {
            try place(next, into: &step)
            nextChunk += 1
        }
        return step
    }

    /// Ends the sequence: releases frames held for a cross-fade and checks the count.
    public mutating func finish() throws(ChunkError) -> Step {
        finished = true
        if let waiting = pending.keys.min() {
            throw ChunkError(chunk: waiting, "arrived, but chunk \(nextChunk) never did")
        }
        var step = Step(frames: [], consumed: [])
        if let previous {
            if policy == .blend && overlap > 0 {
                let held = max(0, previous.frames - overlap)..<previous.frames
                emit(held.map { PlannedFrame.Pixels.copy(.init(chunk: previous, offset: $0)) }, from: previous, into: &step)
            }
            if previousHeld { step.consumed.append(previous) }
            self.previous = nil
        }
        if framesPlanned < targetFrames {
            throw ChunkError(
                chunk: max(0, nextChunk - 1),
                "was the last, and the worker delivered \(framesPlanned) frames; the job needs \(targetFrames)")
        }
        return step
    }

    private mutating func place(_ chunk: ChunkDescriptor, into step: inout Step) throws(ChunkError) {
        guard let previous else {
            if chunk.firstFrame != 0 {
                throw ChunkError(chunk: chunk.index, "starts at frame \(chunk.firstFrame); the first chunk must start at 0")
            }
            if policy == .blend && chunk.frames < overlap {
                throw ChunkError(chunk: chunk.index, "has \(chunk.frames) frames, fewer than the \(overlap)-frame overlap")
            }
            let kept = policy == .blend ? chunk.frames - overlap : chunk.frames
            emit((0..<kept).map { .copy(.init(chunk: chunk, offset: $0)) }, from: chunk, into: &step)
            setPrevious(chunk, into: &step)
            return
        }
        let expected = previous.endFrame - overlap
        if chunk.firstFrame > expected {
            throw ChunkError(
                chunk: chunk.index,
                "starts at frame \(chunk.firstFrame), leaving a gap: frames \(expected)..<\(chunk.firstFrame) were never written")
        }
        if chunk.firstFrame < expected {
            throw ChunkError(
                chunk: chunk.index,
                "starts at frame \(chunk.firstFrame), conflicting with chunk \(previous.index): it overlaps by \(previous.endFrame - chunk.firstFrame) frames; the pipeline declares \(overlap)")
        }
        if chunk.frames <= overlap {
            throw ChunkError(chunk: chunk.index, "has \(chunk.frames) frames, no more than the \(overlap)-frame overlap")
        }

        var pixels: [PlannedFrame.Pixels] = []
        switch policy {
        case .drop:
            pixels = (overlap..<chunk.frames).map { .copy(.init(chunk: chunk, offset: $0)) }
        case .blend:
            if chunk.frames < 2 * overlap {
                throw ChunkError(
                    chunk: chunk.index,
                    "has \(chunk.frames) frames; a cross-faded chunk needs at least twice the \(overlap)-frame overlap")
            }
            for i in 0..<overlap {
                let from = PlannedFrame.Source(chunk: previous, offset: previous.frames - overlap + i)
                let to = PlannedFrame.Source(chunk: chunk, offset: i)
                pixels.append(.blend(from: from, to: to, weight: Double(i + 1) / Double(overlap + 1)))
            }
            pixels += (overlap..<(chunk.frames - overlap)).map { .copy(.init(chunk: chunk, offset: $0)) }
        }
        emit(pixels, from: chunk, into: &step)
        if previousHeld { step.consumed.append(previous) }
        setPrevious(chunk, into: &step)
    }

    /// Makes `chunk` the one the next must follow. Its file is released at once unless a
    /// cross-fade will read its last frames again.
    private mutating func setPrevious(_ chunk: ChunkDescriptor, into step: inout Step) {
        previous = chunk
        previousHeld = policy == .blend && overlap > 0
        if !previousHeld { step.consumed.append(chunk) }
    }

    /// Appends frames up to the target, numbering them in output order.
    private mutating func emit(_ pixels: [PlannedFrame.Pixels], from chunk: ChunkDescriptor, into step: inout Step) {
        for pixel in pixels where framesPlanned < targetFrames {
            step.frames.append(PlannedFrame(index: framesPlanned, pixels: pixel))
            framesPlanned += 1
        }
    }
}
