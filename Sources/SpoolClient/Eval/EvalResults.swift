import Foundation
import SpoolAPIModel
import SpoolCore

/// One evaluated job, as `results.json` and `results.csv` hold it.
public struct EvalResult: Codable, Sendable, Hashable {
    public var promptID: String
    public var prompt: String
    public var tags: [String]
    public var pipeline: String
    public var seed: UInt64
    public var jobID: String
    public var state: JobState
    public var error: String?
    /// Whether this run submitted the job, or found it by its idempotency key.
    public var reused: Bool
    public var videoSeconds: Double
    public var gpuSeconds: Double
    /// Submission to finished video.
    public var latencySeconds: Double?
    public var queueWaitSeconds: Double?
    public var coldStart: Bool?
    public var loadSeconds: Double?
    public var quality: VideoQuality?

    public init(case evalCase: EvalCase, job: JobResource, reused: Bool) {
        promptID = evalCase.prompt.id
        prompt = evalCase.prompt.prompt
        tags = evalCase.prompt.tags
        pipeline = evalCase.pipeline
        seed = evalCase.seed
        jobID = job.id
        state = job.state
        error = job.error
        self.reused = reused
        videoSeconds = Double(job.spec.frames) / Double(job.spec.fps)
        gpuSeconds = job.gpuSeconds
        latencySeconds = job.timings.totalLatency
        queueWaitSeconds = job.timings.queueWait
        coldStart = job.coldStart
        loadSeconds = job.loadSeconds
        quality = job.quality
    }

    /// Slot time per second of video.
    public var gpuSecondsPerVideoSecond: Double? { videoSeconds > 0 && state == .succeeded ? gpuSeconds / videoSeconds : nil }
    /// Frozen frames over the frames measured.
    public var frozenShare: Double? { quality.map { $0.frames > 0 ? Double($0.frozenFrames) / Double($0.frames) : 0 } }
}

/// One pipeline's figures over an evaluation.
public struct EvalSummary: Codable, Sendable, Hashable {
    /// A seam this many times the within-chunk motion is visible: a clean chunked video measures
    /// 1.0–1.4, the synthetic worker's `--seam` 4.1 (docs/quality.md).
    public static let visibleSeam = 2.0
    /// Frozen frames above this share of a video.
    public static let frozenShareLimit = 0.05
    /// Drift in brightness or colour above this many 8-bit levels.
    public static let driftLimit = 20.0

    public var pipeline: String
    public var jobs: Int
    public var succeeded: Int
    public var failed: Int
    public var gpuSecondsPerVideoSecond: Double?
    public var latencyP50: Double?
    public var latencyP95: Double?
    public var coldStarts: Int
    public var seamWorst: Double?
    public var seamMean: Double?
    public var flicker: Double?
    public var frozenShare: Double?
    public var driftBrightness: Double?
    public var driftColour: Double?
    /// What stands out: `seams`, `freezes`, `drift`, `failures`.
    public var flags: [String]

    public init(pipeline: String, results: [EvalResult]) {
        self.pipeline = pipeline
        let mine = results.filter { $0.pipeline == pipeline }
        let made = mine.filter { $0.state == .succeeded }
        jobs = mine.count
        succeeded = made.count
        failed = mine.filter { $0.state == .failed || $0.state == .cancelled }.count
        let videoSeconds = made.reduce(0) { $0 + $1.videoSeconds }
        gpuSecondsPerVideoSecond = videoSeconds > 0 ? made.reduce(0) { $0 + $1.gpuSeconds } / videoSeconds : nil
        let latencies = made.compactMap(\.latencySeconds).sorted()
        latencyP50 = Self.percentile(latencies, 0.50)
        latencyP95 = Self.percentile(latencies, 0.95)
        coldStarts = mine.filter { $0.coldStart == true }.count
        let qualities = made.compactMap(\.quality)
        seamWorst = Self.mean(qualities.compactMap(\.seamWorst))
        seamMean = Self.mean(qualities.compactMap(\.seamMean))
        flicker = Self.mean(qualities.map(\.flicker))
        frozenShare = Self.mean(made.compactMap(\.frozenShare))
        driftBrightness = Self.mean(qualities.map(\.drift.brightness))
        driftColour = Self.mean(qualities.map(\.drift.colour))
        var flags: [String] = []
        if let seamWorst, seamWorst >= Self.visibleSeam { flags.append("seams") }
        if let frozenShare, frozenShare > Self.frozenShareLimit { flags.append("freezes") }
        if abs(driftBrightness ?? 0) > Self.driftLimit || (driftColour ?? 0) > Self.driftLimit { flags.append("drift") }
        if failed > 0 { flags.append("failures") }
        self.flags = flags
    }

    /// The nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
    }

    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}

/// An evaluation's results: what `results.json` holds and the report shows.
public struct EvalReport: Codable, Sendable {
    public var generatedAt: Date
    public var server: String
    public var pipelines: [String]
    public var seeds: [UInt64]
    public var prompts: [EvalPrompt]
    public var summaries: [EvalSummary]
    public var results: [EvalResult]
    /// Each job's poster, a small PNG, by job id: in the report only, not in `results.json`.
    public var posters: [String: Data]

    enum CodingKeys: String, CodingKey { case generatedAt, server, pipelines, seeds, prompts, summaries, results }

    public init(generatedAt: Date, server: String, plan: EvalPlan, results: [EvalResult], posters: [String: Data]) {
        self.generatedAt = generatedAt
        self.server = server
        pipelines = plan.pipelines
        seeds = plan.seeds
        prompts = plan.prompts
        self.results = results
        self.posters = posters
        summaries = plan.pipelines.map { EvalSummary(pipeline: $0, results: results) }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        generatedAt = try c.decode(Date.self, forKey: .generatedAt)
        server = try c.decode(String.self, forKey: .server)
        pipelines = try c.decode([String].self, forKey: .pipelines)
        seeds = try c.decode([UInt64].self, forKey: .seeds)
        prompts = try c.decode([EvalPrompt].self, forKey: .prompts)
        summaries = try c.decode([EvalSummary].self, forKey: .summaries)
        results = try c.decode([EvalResult].self, forKey: .results)
        posters = [:]
    }

    /// `results.json`.
    public func json() throws -> Data {
        let encoder = JSONEncoder.spoolAPI
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// `results.csv`: one row a job, RFC 4180 quoting.
    public func csv() -> String {
        let header = [
            "prompt_id", "pipeline", "seed", "job_id", "state", "reused", "video_seconds", "gpu_seconds", "gpu_seconds_per_video_second",
            "latency_seconds", "queue_wait_seconds", "cold_start", "load_seconds", "seam_worst", "seam_mean", "flicker", "frozen_frames",
            "drift_brightness", "drift_colour", "tags", "prompt", "error",
        ]
        func number(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "" }
        func quote(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = [header.joined(separator: ",")]
        for r in results {
            let fields: [String] = [
                r.promptID, r.pipeline, String(r.seed), r.jobID, r.state.rawValue, String(r.reused), number(r.videoSeconds),
                number(r.gpuSeconds), number(r.gpuSecondsPerVideoSecond), number(r.latencySeconds), number(r.queueWaitSeconds),
                r.coldStart.map { String($0) } ?? "", number(r.loadSeconds), number(r.quality?.seamWorst), number(r.quality?.seamMean),
                number(r.quality?.flicker), r.quality.map { String($0.frozenFrames) } ?? "", number(r.quality?.drift.brightness),
                number(r.quality?.drift.colour), r.tags.joined(separator: " "), r.prompt, r.error ?? "",
            ]
            lines.append(fields.map(quote).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
