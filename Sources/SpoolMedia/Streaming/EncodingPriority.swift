import CSpoolSystem

/// How a job's encoding competes for the CPU: the thread that stitches and reads frames,
/// and the encoder's own threads, which inherit its setting.
///
/// Encoding is batch work: a job's latency barely notices it going slower for a moment,
/// while the HTTP API, the dispatcher, the workers' pipes and the workers themselves (which
/// keep the GPUs fed) are interactive. ``idle`` gives all of them the CPU the moment they
/// want it.
public enum EncodingPriority: Hashable, Sendable, CustomStringConvertible {
    /// Linux's `SCHED_IDLE` class: encoding runs on whatever CPU time no other thread
    /// wants, and a thread of the normal class that wakes takes the CPU from it at once.
    ///
    /// At nice 10 (Spool's setting before this) a woken server thread still waited out
    /// the encoder's time slice: with a 720p job generating, a poll answered at 10,000
    /// requests/s took a median 2.9–66 ms, against 0.3–1.9 ms in this class
    /// (`scripts/bench-http.sh`, paired runs). The cost: on a machine whose every core is
    /// busy with normal work, encoding nearly stops until a core frees up. Choose
    /// ``nice(_:)`` there.
    case idle
    /// The normal class at a nice value from 0 (the daemon's own) to 19: encoding gets a
    /// share of a contended CPU in proportion to its weight.
    case nice(Int32)

    /// Spool's default.
    public static let `default` = EncodingPriority.idle

    /// Parses `idle` or a nice value `0`…`19`.
    public init?(parsing text: String) {
        if text == "idle" {
            self = .idle
        } else if let value = Int32(text), (0...19).contains(value) {
            self = .nice(value)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .idle: "idle"
        case .nice(let value): "\(value)"
        }
    }

    /// Applies the priority to the calling thread. Returns 0 or an errno value (a
    /// container may forbid the change; encoding then runs at the daemon's priority).
    @discardableResult
    func applyToCurrentThread() -> Int32 {
        switch self {
        case .idle: spool_set_thread_idle_class()
        case .nice(let value): spool_set_thread_nice(value)
        }
    }
}
