import Foundation

/// Why a generation attempt failed, with the tail of the worker's stderr.
public struct GenerationError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// The worker could not be started at all.
        case spawnFailed
        /// Killed by a signal it did not ask for.
        case crashed
        /// Exited with a non-zero status.
        case exitedWithError
        /// Exited 0 without printing `done`.
        case exitedWithoutDone
        /// A stdout line that is not a protocol event.
        case malformedOutput
        /// A `chunk` event whose file is missing, short or of the wrong shape.
        case badChunk
        /// No first event within the pipeline's start-up timeout.
        case startupTimeout
        /// No event within the pipeline's stall timeout.
        case stalled
        /// The job's time limit ran out.
        case timeLimit
        /// Stopped on request.
        case cancelled
        /// A resident worker died, or never said `ready`, while loading its model.
        case loadFailed
        /// A resident worker said it could not generate the job, and took the next.
        case jobFailed
    }

    public var kind: Kind
    public var message: String
    /// The last lines the worker wrote to stderr.
    public var stderrTail: String

    public init(_ kind: Kind, _ message: String, stderrTail: String = "") {
        self.kind = kind
        self.message = message
        self.stderrTail = stderrTail
    }

    /// Worker failures are worth retrying; a cancellation is not, nor running out of the
    /// job's own time limit (another attempt would only spend more GPU time the same way).
    public var isRetryable: Bool { kind != .cancelled && kind != .timeLimit }

    public var description: String {
        let tail = stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
        return tail.isEmpty ? message : "\(message); worker stderr (last lines):\n\(tail)"
    }
}

