import Foundation
import SpoolCore
import SpoolMedia

/// Wraps an encoder factory so that a test decides when frames get encoded: each frame
/// waits until the gate is open, then goes to the real encoder.
/// `@unchecked Sendable`: the gate's state is read and written only under `condition`, on
/// which encoding threads block (a `Mutex` cannot wait).
public final class GatedEncoderFactory: VideoEncoderFactory, @unchecked Sendable {
    private let inner: any VideoEncoderFactory
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var isOpen: Bool
    private var waiting = 0
    private var passed = 0

    public init(wrapping inner: any VideoEncoderFactory, open: Bool = false) {
        self.inner = inner
        isOpen = open
    }

    /// Lets frames through from now on.
    public func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }

    /// Frames waiting at the gate now: a frame waits here after it was read from its chunk.
    public var framesWaiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return waiting
    }

    /// Frames that went through the gate to the real encoder so far.
    public var framesPassed: Int {
        condition.lock()
        defer { condition.unlock() }
        return passed
    }

    fileprivate func waitUntilOpen() {
        condition.lock()
        waiting += 1
        while !isOpen { condition.wait() }
        waiting -= 1
        passed += 1
        condition.unlock()
    }

    public func makeEncoder(path: String, size: FrameSize, fps: Int, live: LivePreview?) throws(MediaError) -> any VideoEncoder {
        GatedEncoder(inner: try inner.makeEncoder(path: path, size: size, fps: fps, live: live), gate: self)
    }
}

private final class GatedEncoder: VideoEncoder {
    let inner: any VideoEncoder
    let gate: GatedEncoderFactory

    init(inner: any VideoEncoder, gate: GatedEncoderFactory) {
        self.inner = inner
        self.gate = gate
    }

    func encode(_ frame: UnsafeRawBufferPointer) throws(MediaError) {
        gate.waitUntilOpen()
        try inner.encode(frame)
    }

    func finish() throws(MediaError) -> EncodedVideo {
        try inner.finish()
    }
}
