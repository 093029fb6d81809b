import Foundation
import SpoolAPIModel
import SpoolCore

/// Renders a job's progress: a live bar on a terminal, plain lines otherwise.
public struct ProgressLine: Sendable {
    public let live: Bool
    private let started = Date()

    public init(live: Bool) { self.live = live }

    /// One line: state, a bar, frames, chunks, rate and ETA.
    public func render(_ job: JobResource, width: Int = 24) -> String {
        let p = job.progress
        let filled = min(width, Int(Double(width) * p.percent / 100))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        let chunks = p.chunksTotal.map { "\(p.chunksDone)/\($0)" } ?? "\(p.chunksDone)"
        var line = "\(job.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(bar) \(p.framesDone)/\(p.framesTotal) frames  \(chunks) chunks"
        if let started = job.timings.startedAt, job.state == .running, p.framesDone > 0 {
            let elapsed = Date().timeIntervalSince(started)
            let rate = Double(p.framesDone) / max(elapsed, 0.001)
            let eta = Double(p.framesTotal - p.framesDone) / max(rate, 0.001)
            line += String(format: "  %.1f frames/s  ETA %@", rate, Self.duration(eta))
        } else if job.state == .queued, let position = job.queuePosition {
            line += "  queue position \(position)"
        }
        return line
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
