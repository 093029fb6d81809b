import SpoolCore
import SpoolMedia
import Testing

@Suite("Frame assembler")
struct FrameAssemblerTests {
    let size = FrameSize(width: 64, height: 48)

    func chunk(_ index: Int, first: Int, frames: Int) -> ChunkDescriptor {
        ChunkDescriptor(index: index, firstFrame: first, frames: frames, width: 64, height: 48, file: "c\(index)")
    }

    /// Output frames as "chunk:offset" or "blend(a:i,b:j,w)".
    func describe(_ frames: [PlannedFrame]) -> [String] {
        frames.map { frame in
            switch frame.pixels {
            case .copy(let s): "\(s.chunk.index):\(s.offset)"
            case .blend(let a, let b, let w): "\(a.chunk.index):\(a.offset)~\(b.chunk.index):\(b.offset)@\(w)"
            }
        }
    }

    @Test func shuffledChunksComeOutInOrderAsSoonAsTheyCanBePlaced() throws {
        var assembler = FrameAssembler(targetFrames: 12, overlap: 0, policy: .drop, frameSize: size)
        let chunks = (0..<4).map { chunk($0, first: $0 * 3, frames: 3) }
        #expect(try assembler.add(chunks[2]).frames.isEmpty)
        #expect(try assembler.add(chunks[1]).frames.isEmpty)
        #expect(assembler.waitingChunks == 2)
        let step = try assembler.add(chunks[0])
        #expect(step.frames.map(\.index) == Array(0..<9))
        #expect(describe(step.frames) == ["0:0", "0:1", "0:2", "1:0", "1:1", "1:2", "2:0", "2:1", "2:2"])
        // Without a cross-fade nothing reads a placed chunk again: its file can go at once.
        #expect(step.consumed.map(\.index) == [0, 1, 2])
        let last = try assembler.add(chunks[3])
        #expect(last.frames.map(\.index) == [9, 10, 11])
        #expect(last.consumed.map(\.index) == [3])
        let end = try assembler.finish()
        #expect(end.frames.isEmpty)
        #expect(end.consumed.isEmpty)
    }

    @Test func dropKeepsTheEarlierChunksCopyOfOverlappingFrames() throws {
        var assembler = FrameAssembler(targetFrames: 8, overlap: 2, policy: .drop, frameSize: size)
        var out = try assembler.add(chunk(0, first: 0, frames: 5)).frames
        out += try assembler.add(chunk(1, first: 3, frames: 5)).frames
        out += try assembler.finish().frames
        #expect(describe(out) == ["0:0", "0:1", "0:2", "0:3", "0:4", "1:2", "1:3", "1:4"])
        #expect(out.map(\.index) == Array(0..<8))
    }

    @Test func blendCrossFadesLinearlyAcrossTheOverlap() throws {
        var assembler = FrameAssembler(targetFrames: 10, overlap: 3, policy: .blend, frameSize: size)
        let first = try assembler.add(chunk(0, first: 0, frames: 6))
        #expect(describe(first.frames) == ["0:0", "0:1", "0:2"])  // 0:3…0:5 wait for the fade
        #expect(first.consumed.isEmpty)
        let second = try assembler.add(chunk(1, first: 3, frames: 7))
        #expect(describe(second.frames) == ["0:3~1:0@0.25", "0:4~1:1@0.5", "0:5~1:2@0.75", "1:3"])
        #expect(second.consumed.map(\.index) == [0])
        let end = try assembler.finish()
        #expect(describe(end.frames) == ["1:4", "1:5", "1:6"])
        #expect(end.consumed.map(\.index) == [1])
        #expect(assembler.framesPlanned == 10)
    }

    @Test func surplusFramesAreTrimmed() throws {
        var assembler = FrameAssembler(targetFrames: 4, overlap: 0, policy: .drop, frameSize: size)
        #expect(try assembler.add(chunk(0, first: 0, frames: 3)).frames.count == 3)
        #expect(try assembler.add(chunk(1, first: 3, frames: 3)).frames.map(\.index) == [3])
        #expect(try assembler.finish().frames.isEmpty)
    }

    @Test func tooFewFramesIsAnError() throws {
        var assembler = FrameAssembler(targetFrames: 10, overlap: 0, policy: .drop, frameSize: size)
        _ = try assembler.add(chunk(0, first: 0, frames: 3))
        let error = #expect(throws: ChunkError.self) { try assembler.finish() }
        #expect(error?.description == "chunk 0 was the last, and the worker delivered 3 frames; the job needs 10")
    }

    @Test func gapsDuplicatesAndConflictsAreErrors() throws {
        var gap = FrameAssembler(targetFrames: 10, overlap: 0, policy: .drop, frameSize: size)
        _ = try gap.add(chunk(0, first: 0, frames: 3))
        let gapError = #expect(throws: ChunkError.self) { try gap.add(chunk(1, first: 5, frames: 3)) }
        #expect(gapError?.description.contains("gap: frames 3..<5 were never written") == true)

        var duplicate = FrameAssembler(targetFrames: 10, overlap: 0, policy: .drop, frameSize: size)
        _ = try duplicate.add(chunk(1, first: 3, frames: 3))
        #expect(throws: ChunkError(chunk: 1, "arrived twice")) { try duplicate.add(chunk(1, first: 3, frames: 3)) }
        _ = try duplicate.add(chunk(0, first: 0, frames: 3))
        #expect(throws: ChunkError(chunk: 0, "arrived twice")) { try duplicate.add(chunk(0, first: 0, frames: 3)) }

        var conflict = FrameAssembler(targetFrames: 10, overlap: 1, policy: .drop, frameSize: size)
        _ = try conflict.add(chunk(0, first: 0, frames: 4))
        let conflictError = #expect(throws: ChunkError.self) { try conflict.add(chunk(1, first: 1, frames: 4)) }
        #expect(conflictError?.description.contains("overlaps by 3 frames; the pipeline declares 1") == true)

        var missing = FrameAssembler(targetFrames: 6, overlap: 0, policy: .drop, frameSize: size)
        _ = try missing.add(chunk(1, first: 3, frames: 3))
        #expect(throws: ChunkError(chunk: 1, "arrived, but chunk 0 never did")) { try missing.finish() }

        var wrongSize = FrameAssembler(targetFrames: 6, overlap: 0, policy: .drop, frameSize: size)
        let small = ChunkDescriptor(index: 0, firstFrame: 0, frames: 3, width: 32, height: 24, file: "x")
        #expect(throws: ChunkError(chunk: 0, "is 32x24 but the job is 64x48")) { try wrongSize.add(small) }
    }
}
