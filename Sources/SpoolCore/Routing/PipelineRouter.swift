import Foundation

/// Chooses the pipeline of a routed job (`"pipeline": "auto"`): the first candidate of its
/// tier in `routes.json` that takes the job, that a live host can run, that is not failing, and
/// that meets its deadline and budget by its own measured history (its file's prior until it
/// has enough). A plain value: the submitter reads the history and the hosts, this decides.
public struct PipelineRouter: Sendable {
    public var table: RouteTable
    public var pipelines: PipelineCatalog
    public var defaultPipeline: String

    public init(table: RouteTable, pipelines: PipelineCatalog, defaultPipeline: String) {
        self.table = table
        self.pipelines = pipelines
        self.defaultPipeline = defaultPipeline
    }

    /// What a candidate is expected to take, and on what grounds.
    public struct Estimate: Hashable, Sendable {
        public var queueSeconds: Double
        public var loadSeconds: Double
        public var gpuSeconds: Double
        /// "its history of 12 videos", "the prior in its file".
        public var basis: String

        /// Submission to video: the wait, the expected load, the generation.
        public var seconds: Double { queueSeconds + loadSeconds + gpuSeconds }
    }

    public enum Decision: Sendable {
        /// The spec as it will be stored (the chosen pipeline, no routing fields) and the record.
        case routed(JobSpec, JobRouting)
        /// No candidate fits: an issue for each, naming it and why.
        case refused([ValidationIssue])
    }

    /// - Parameters:
    ///   - history: each pipeline's measured history (``PipelineHistory/summarize(_:fps:)``).
    ///   - unavailable: why no live host can run a pipeline; nil when one can.
    public func route(
        _ spec: JobSpec, history: [String: PipelineHistory], now: Date, unavailable: (PipelineDefinition) -> String?
    ) -> Decision {
        let tier = spec.tier ?? .standard
        var candidates: [JobRouting.Candidate] = []
        var refusals: [ValidationIssue] = []
        for name in table.candidates(tier) {
            guard let definition = pipelines[name] else { continue }
            let (candidate, field) = weigh(spec, on: definition, history: history[name], now: now, unavailable: unavailable)
            candidates.append(candidate)
            if !candidate.fits { refusals.append(ValidationIssue(field: field, reason: "candidate \(name) of tier \(tier.rawValue): \(candidate.reason)")) }
        }
        guard let chosen = candidates.first(where: \.fits) else { return .refused(refusals) }
        let routed = spec.naming(chosen.pipeline)
        let passedOver = candidates.prefix { $0.pipeline != chosen.pipeline }.map(\.pipeline)
        let reason = passedOver.isEmpty
            ? "the first candidate of tier \(tier.rawValue); \(chosen.reason)"
            : "the first candidate of tier \(tier.rawValue) that fits (\(passedOver.joined(separator: ", ")) did not); \(chosen.reason)"
        let routing = JobRouting(
            tier: tier, deadlineSeconds: spec.deadlineSeconds, maxGpuSeconds: spec.maxGpuSeconds, chosen: chosen.pipeline,
            reason: reason, candidates: candidates, sizeGiven: spec.width != nil)
        return .routed(routed, routing)
    }

    /// One candidate: whether it fits the job and why, and the field a refusal names.
    func weigh(
        _ spec: JobSpec, on definition: PipelineDefinition, history: PipelineHistory?, now: Date,
        unavailable: (PipelineDefinition) -> String?
    ) -> (JobRouting.Candidate, field: String) {
        let name = definition.name
        func unfit(_ field: String, _ reason: String, _ estimate: Estimate? = nil) -> (JobRouting.Candidate, field: String) {
            (JobRouting.Candidate(
                pipeline: name, fits: false, reason: reason, estimatedSeconds: estimate?.seconds, estimatedGpuSeconds: estimate?.gpuSeconds), field)
        }
        let issues = spec.naming(name).validate(pipelines: pipelines, defaultPipeline: defaultPipeline)
        if let first = issues.first {
            return unfit(first.field, "does not take this job: " + issues.map { "\($0.field) \($0.reason)" }.joined(separator: "; "))
        }
        if let why = unavailable(definition) { return unfit("pipeline", "no live host can run it: \(why)") }
        if let history, history.failureStreak >= table.skipFailing.after, let last = history.lastFailureAt {
            let until = last.addingTimeInterval(table.skipFailing.forSeconds)
            if until > now {
                return unfit("pipeline", "is failing: its last \(history.failureStreak) attempts failed, the latest \(Self.seconds(now.timeIntervalSince(last))) s ago; passed over for \(Self.seconds(until.timeIntervalSince(now))) s more")
            }
        }
        let estimate = estimate(definition, history: history, videoSeconds: spec.durationSeconds)
        let constrained = spec.deadlineSeconds != nil || spec.maxGpuSeconds != nil
        guard let estimate else {
            let measured = history?.videos ?? 0
            let reason = "has no measured history yet (\(measured) of the \(table.minHistory) videos needed) and its file gives no prior"
            if constrained {
                return unfit(spec.deadlineSeconds != nil ? "deadlineSeconds" : "maxGpuSeconds", reason + " to judge \(spec.deadlineSeconds != nil ? "a deadline" : "a budget") by")
            }
            return (JobRouting.Candidate(pipeline: name, fits: true, reason: "it takes the job (no estimate: it \(reason))"), "pipeline")
        }
        let figures = "about \(Self.seconds(estimate.seconds)) s to the video (queue \(Self.seconds(estimate.queueSeconds)) s, load \(Self.seconds(estimate.loadSeconds)) s, generation \(Self.seconds(estimate.gpuSeconds)) s) and \(Self.seconds(estimate.gpuSeconds)) GPU-seconds, by \(estimate.basis)"
        if let deadline = spec.deadlineSeconds, estimate.seconds > deadline {
            return unfit("deadlineSeconds", "would take \(figures); the deadline is \(Self.seconds(deadline)) s", estimate)
        }
        if let budget = spec.maxGpuSeconds, estimate.gpuSeconds > budget {
            return unfit("maxGpuSeconds", "would cost \(figures); the budget is \(Self.seconds(budget)) GPU-seconds", estimate)
        }
        return (JobRouting.Candidate(
            pipeline: name, fits: true, reason: "expected to take \(figures)", estimatedSeconds: estimate.seconds,
            estimatedGpuSeconds: estimate.gpuSeconds), "pipeline")
    }

    /// What `definition` is expected to take for `videoSeconds` of video: by its history once it
    /// has ``RouteTable/minHistory`` videos, else by its file's prior; nil with neither.
    public func estimate(_ definition: PipelineDefinition, history: PipelineHistory?, videoSeconds: Double) -> Estimate? {
        if let history, history.videos >= table.minHistory, let rate = history.gpuSecondsPerVideoSecond {
            return Estimate(
                queueSeconds: history.queueSeconds ?? 0, loadSeconds: (history.loadSeconds ?? 0) * history.coldFraction,
                gpuSeconds: rate * videoSeconds, basis: "its history of \(history.videos) videos")
        }
        guard let prior = definition.prior else { return nil }
        return Estimate(
            queueSeconds: prior.queueSeconds, loadSeconds: prior.loadSeconds, gpuSeconds: prior.gpuSecondsPerVideoSecond * videoSeconds,
            basis: "the prior in its file (\(history?.videos ?? 0) of the \(table.minHistory) videos needed measured)")
    }

    static func seconds(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(format: "%.1f", value)
    }
}

extension JobSpec {
    /// A routed spec as a job naming `pipeline` would give it: that pipeline, no routing fields.
    func naming(_ pipeline: String) -> JobSpec {
        var spec = self
        spec.pipeline = pipeline
        spec.tier = nil
        spec.deadlineSeconds = nil
        spec.maxGpuSeconds = nil
        return spec
    }
}
