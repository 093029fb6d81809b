import Foundation

/// One ended attempt, as the router weighs the pipeline it ran on.
public struct AttemptRecord: Hashable, Sendable {
    /// Which attempt it is: one read twice (across pages, or by an overlapping read) is one.
    public struct Key: Hashable, Sendable {
        public var job: JobID
        public var number: Int
    }

    public var key: Key { Key(job: jobID, number: number) }

    public var jobID: JobID
    /// The pipeline the attempt ran on (a routed job may have moved since).
    public var pipeline: String
    public var outcome: Attempt.Outcome
    /// 1 for a job's first attempt.
    public var number: Int
    public var submittedAt: Date
    public var startedAt: Date
    public var endedAt: Date
    public var gpuSeconds: Double
    /// Frames the attempt made: the job's, less those before the checkpoint it resumed from.
    public var framesMade: Int
    public var coldStart: Bool?
    public var loadSeconds: Double?

    public init(
        jobID: JobID, pipeline: String, outcome: Attempt.Outcome, number: Int, submittedAt: Date, startedAt: Date, endedAt: Date,
        gpuSeconds: Double, framesMade: Int, coldStart: Bool? = nil, loadSeconds: Double? = nil
    ) {
        self.jobID = jobID
        self.pipeline = pipeline
        self.outcome = outcome
        self.number = number
        self.submittedAt = submittedAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.gpuSeconds = gpuSeconds
        self.framesMade = framesMade
        self.coldStart = coldStart
        self.loadSeconds = loadSeconds
    }
}

/// What a pipeline's recent attempts say of it: its cost, its waits, whether it is failing.
public struct PipelineHistory: Hashable, Sendable {
    public var pipeline: String
    /// Attempts that made their video (outcome `generated`).
    public var videos: Int
    /// Their slot time over the video they made; nil without any.
    public var gpuSecondsPerVideoSecond: Double?
    /// The median model load of a cold start; nil without one.
    public var loadSeconds: Double?
    /// The share of attempts that started cold.
    public var coldFraction: Double
    /// The median wait of a job's first attempt, from submission to its start.
    public var queueSeconds: Double?
    /// Failed attempts in a row, the latest first (cancelled, lost, interrupted and
    /// preempted attempts say nothing of the pipeline and are passed over).
    public var failureStreak: Int
    public var lastFailureAt: Date?

    public init(
        pipeline: String, videos: Int = 0, gpuSecondsPerVideoSecond: Double? = nil, loadSeconds: Double? = nil,
        coldFraction: Double = 0, queueSeconds: Double? = nil, failureStreak: Int = 0, lastFailureAt: Date? = nil
    ) {
        self.pipeline = pipeline
        self.videos = videos
        self.gpuSecondsPerVideoSecond = gpuSecondsPerVideoSecond
        self.loadSeconds = loadSeconds
        self.coldFraction = coldFraction
        self.queueSeconds = queueSeconds
        self.failureStreak = failureStreak
        self.lastFailureAt = lastFailureAt
    }

    /// Each pipeline's history from its ended attempts, in any order.
    public static func summarize(_ records: [AttemptRecord], fps: Int = JobSpec.supportedFPS) -> [String: PipelineHistory] {
        var result: [String: PipelineHistory] = [:]
        for (pipeline, attempts) in Dictionary(grouping: records, by: \.pipeline) {
            let newestFirst = attempts.sorted { $0.endedAt > $1.endedAt }
            var history = PipelineHistory(pipeline: pipeline)
            let made = newestFirst.filter { $0.outcome == .generated && $0.framesMade > 0 }
            history.videos = made.count
            let videoSeconds = made.reduce(0) { $0 + Double($1.framesMade) / Double(fps) }
            if videoSeconds > 0 { history.gpuSecondsPerVideoSecond = made.reduce(0) { $0 + $1.gpuSeconds } / videoSeconds }
            let started = newestFirst.filter { $0.coldStart != nil }
            if !started.isEmpty {
                let cold = started.filter { $0.coldStart == true }
                history.coldFraction = Double(cold.count) / Double(started.count)
                history.loadSeconds = median(cold.compactMap(\.loadSeconds))
            }
            history.queueSeconds = median(newestFirst.filter { $0.number == 1 }.map { max(0, $0.startedAt.timeIntervalSince($0.submittedAt)) })
            for attempt in newestFirst where attempt.outcome == .failed || attempt.outcome == .generated {
                guard attempt.outcome == .failed else { break }
                history.failureStreak += 1
                history.lastFailureAt = history.lastFailureAt ?? attempt.endedAt
            }
            result[pipeline] = history
        }
        return result
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
