import SpoolCore

/// Produces a job's chunks: the seam between Spool and a model.
public protocol VideoGenerator: Sendable {
    /// Starts generating. Events arrive on the run's stream; it finishes after `done`
    /// and a clean exit, or throws a ``GenerationError``.
    func start(_ request: GenerationRequest) throws(GenerationError) -> any GenerationRun
}

/// A generation in progress.
public protocol GenerationRun: Sendable {
    /// Validated protocol events: every `chunk` names a complete file in the work directory.
    var events: AsyncThrowingStream<WorkerEvent, any Error> { get }
    /// The worker's process group, when the generator runs one.
    var processGroup: Int32? { get }
    /// Stops the worker and everything it started; the stream then throws
    /// ``GenerationError/Kind/cancelled``.
    func cancel(reason: String)
    /// Stops the worker and everything it started where they are (SIGSTOP), until
    /// ``resume()``: how Spool holds a worker that is too far ahead of the encoder. Time
    /// paused is not silence to the stall watchdog; it still counts toward the time limit.
    func pause()
    /// Lets a paused worker go on (SIGCONT).
    func resume()
    /// Seconds from a per-job worker's start to its `ready` (its model's load), once it said
    /// so; nil for a worker that does not, and for a resident worker, whose load is its slot's.
    var loadSeconds: Double? { get }
    /// Blocks the calling thread until the stall watchdog has found the paused worker silent
    /// for `seconds`, and let it pass, or the run ends: how a caller holds a paused worker
    /// exactly as long as the watchdog's check needs.
    func waitForPausedSilence(atLeast seconds: Double)
}

extension GenerationRun {
    public var loadSeconds: Double? { nil }
    /// A run that keeps no such record (a resident worker's run) returns at once.
    public func waitForPausedSilence(atLeast seconds: Double) {}
}
