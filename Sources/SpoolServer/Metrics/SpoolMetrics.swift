import Foundation
import ServiceLifecycle
import SpoolCore
import SpoolScheduler
import SpoolWebhooks
import Synchronization

/// Spool's Prometheus metrics: latency by stage from finished jobs, and on each scrape,
/// jobs by state (from the store), slot time and utilisation (from the dispatcher's own
/// statistics) and the encoder's throughput.
///
/// It follows the event hub as a ``Service``; written by hand in the text exposition
/// format, since a handful of series did not earn a metrics dependency.
public final class SpoolMetrics: Service, Sendable {
    static let stages = ["queue_wait", "time_to_first_chunk", "generation", "encode_tail", "total"]
    static let bounds: [Double] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1_200, 1_800, 3_600]

    private struct State {
        var stages: [String: Histogram] = Dictionary(
            uniqueKeysWithValues: SpoolMetrics.stages.map { ($0, Histogram(bounds: SpoolMetrics.bounds)) })
        var finished: [JobState: Int] = [:]
        /// Quality measures of succeeded videos, by pipeline then measure: (sum, videos).
        var quality: [String: [String: (sum: Double, count: Int)]] = [:]
    }

    /// The measures `/metrics` sums per pipeline, from each video's ``VideoQuality``.
    static func measures(_ quality: VideoQuality) -> [(String, Double?)] {
        [
            ("seam_worst", quality.seamWorst), ("seam_mean", quality.seamMean), ("flicker", quality.flicker),
            ("frozen_frames", Double(quality.frozenFrames)), ("drift_brightness", quality.drift.brightness),
            ("drift_contrast", quality.drift.contrast), ("drift_colour", quality.drift.colour),
        ]
    }

    private let host: SpoolHost
    private let started = ContinuousClock.now
    private let state = Mutex(State())

    private let webhooks: WebhookStatistics?
    /// Event streams (`GET /v1/jobs/{id}/events`) open now, counted by the HTTP API.
    let eventStreams = OpenCount()

    /// - Parameter webhooks: what this host's webhook sender counts, if it runs one.
    public init(host: SpoolHost, webhooks: WebhookStatistics? = nil) {
        self.host = host
        self.webhooks = webhooks
    }

    public func run() async throws {
        // Ends on graceful shutdown: the service group stops services one by one, and one
        // that never returns would keep the dispatcher from ever draining.
        for await event in host.events.subscribe(buffer: 4_096).cancelOnGracefulShutdown() {
            guard case .state(let newState) = event.kind, newState.isFinal else { continue }
            record(event.job)
        }
    }

    func record(_ job: Job) {
        state.withLock { state in
            state.finished[job.state, default: 0] += 1
            guard job.state == .succeeded else { return }
            let t = job.timings
            let values: [(String, Double?)] = [
                ("queue_wait", t.queueWait), ("time_to_first_chunk", t.timeToFirstChunk), ("generation", t.generationTime),
                ("encode_tail", t.encodeTail), ("total", t.totalLatency),
            ]
            for case (let stage, let value?) in values { state.stages[stage]?.observe(value) }
            if let quality = job.quality {
                for case (let measure, let value?) in Self.measures(quality) {
                    state.quality[job.pipeline, default: [:]][measure, default: (0, 0)].sum += value
                    state.quality[job.pipeline, default: [:]][measure, default: (0, 0)].count += 1
                }
            }
        }
    }

    /// The exposition text for `GET /metrics`.
    public func render() async -> String {
        var out = ""
        func line(_ text: String) { out += text + "\n" }

        // Through the operations layer: a queue that went away costs /metrics its deadline,
        // not a hang, and the host's own figures are still served.
        let counts = (try? await host.operations.countsByState()) ?? [:]
        line("# HELP spool_jobs Jobs in the store by state.")
        line("# TYPE spool_jobs gauge")
        for s in JobState.allCases { line("spool_jobs{state=\"\(s)\"} \(counts[s] ?? 0)") }
        // Tenants (--tokens): jobs with no tenant are the host's own, labelled "".
        let usage = (try? await host.operations.usage())?.tenants.map(\.usage) ?? []
        line("# HELP spool_tenant_gpu_seconds Slot time of each tenant in the last 24 hours: attempts that ended in them, and running jobs' so far.")
        line("# TYPE spool_tenant_gpu_seconds gauge")
        for row in usage { line("spool_tenant_gpu_seconds{tenant=\"\(row.tenant ?? "")\"} \(Self.format(row.gpuSeconds))") }
        line("# HELP spool_tenant_jobs Each tenant's jobs queued, running and encoding now.")
        line("# TYPE spool_tenant_jobs gauge")
        for row in usage {
            line("spool_tenant_jobs{tenant=\"\(row.tenant ?? "")\",state=\"queued\"} \(row.queued)")
            line("spool_tenant_jobs{tenant=\"\(row.tenant ?? "")\",state=\"running\"} \(row.running)")
            line("spool_tenant_jobs{tenant=\"\(row.tenant ?? "")\",state=\"encoding\"} \(row.encoding)")
        }

        let snapshot = state.withLock { $0 }
        line("# HELP spool_jobs_finished_total Jobs this host saw reach a final state.")
        line("# TYPE spool_jobs_finished_total counter")
        for s in JobState.allCases where s.isFinal { line("spool_jobs_finished_total{state=\"\(s)\"} \(snapshot.finished[s] ?? 0)") }

        line("# HELP spool_stage_seconds Latency of each stage of succeeded jobs.")
        line("# TYPE spool_stage_seconds histogram")
        for stage in Self.stages {
            guard let h = snapshot.stages[stage] else { continue }
            for (bound, count) in zip(h.bounds, h.counts) {
                line("spool_stage_seconds_bucket{stage=\"\(stage)\",le=\"\(Self.format(bound))\"} \(count)")
            }
            line("spool_stage_seconds_bucket{stage=\"\(stage)\",le=\"+Inf\"} \(h.count)")
            line("spool_stage_seconds_sum{stage=\"\(stage)\"} \(Self.format(h.sum))")
            line("spool_stage_seconds_count{stage=\"\(stage)\"} \(h.count)")
        }

        line("# HELP spool_video_quality_sum Each quality measure summed over this host's succeeded videos, by pipeline: seams (worst and mean boundary against within-chunk motion, 1 is none), flicker (levels), frozen frames, drift (brightness in levels, contrast as a ratio, colour in levels).")
        line("# TYPE spool_video_quality_sum counter")
        let quality = snapshot.quality.sorted { $0.key < $1.key }.flatMap { pipeline, measures in
            measures.sorted { $0.key < $1.key }.map { (pipeline: pipeline, measure: $0.key, sum: $0.value.sum, count: $0.value.count) }
        }
        for row in quality {
            line("spool_video_quality_sum{pipeline=\"\(row.pipeline)\",measure=\"\(row.measure)\"} \(Self.format(row.sum))")
        }
        line("# HELP spool_video_quality_count Videos each measure was summed over (a one-chunk video has no seam).")
        line("# TYPE spool_video_quality_count counter")
        for row in quality {
            line("spool_video_quality_count{pipeline=\"\(row.pipeline)\",measure=\"\(row.measure)\"} \(row.count)")
        }

        let stats = host.statistics.snapshot
        let uptime = max((ContinuousClock.now - started).seconds, 1e-9)
        let busy = Set(await host.dispatcher.busySlots.keys)
        line("# HELP spool_gpu_seconds_total Slot time held by jobs, by GPU slot.")
        line("# TYPE spool_gpu_seconds_total counter")
        for slot in host.configuration.slots {
            line("spool_gpu_seconds_total{gpu=\"\(slot.name)\"} \(Self.format(stats.heldSeconds[slot.name] ?? 0))")
        }
        line("# HELP spool_slot_utilization Share of this host's uptime each slot was held by a job.")
        line("# TYPE spool_slot_utilization gauge")
        for slot in host.configuration.slots {
            line("spool_slot_utilization{gpu=\"\(slot.name)\"} \(Self.format(min(1, (stats.heldSeconds[slot.name] ?? 0) / uptime)))")
        }
        let reports = await host.dispatcher.slotReports
        line("# HELP spool_slot_seconds_total Slot time by what it was spent on: loading a model, generating, holding a loaded model with no job.")
        line("# TYPE spool_slot_seconds_total counter")
        for report in reports {
            for (activity, seconds) in [("loading", report.loadingSeconds), ("generating", report.generatingSeconds), ("idle_resident", report.idleResidentSeconds)] {
                line("spool_slot_seconds_total{gpu=\"\(report.slot.name)\",activity=\"\(activity)\"} \(Self.format(seconds))")
            }
        }
        line("# HELP spool_model_loads_total Resident workers started (model loads), by slot.")
        line("# TYPE spool_model_loads_total counter")
        for report in reports { line("spool_model_loads_total{gpu=\"\(report.slot.name)\"} \(report.modelLoads)") }
        line("# HELP spool_slot_state What each slot is doing: cold, loading, ready (a model loaded, no job) or busy.")
        line("# TYPE spool_slot_state gauge")
        for report in reports {
            for state in SlotReport.State.allCases {
                line("spool_slot_state{gpu=\"\(report.slot.name)\",state=\"\(state.rawValue)\"} \(report.state == state ? 1 : 0)")
            }
        }
        line("# HELP spool_slot_busy Whether a slot runs a job now.")
        line("# TYPE spool_slot_busy gauge")
        for slot in host.configuration.slots { line("spool_slot_busy{gpu=\"\(slot.name)\"} \(busy.contains(slot.name) ? 1 : 0)") }
        line("# HELP spool_gpu_seconds_saved_by_resume_total Slot time the frames resumed attempts kept would have cost again, each at its attempt's own pace.")
        line("# TYPE spool_gpu_seconds_saved_by_resume_total counter")
        line("spool_gpu_seconds_saved_by_resume_total \(Self.format(stats.secondsSavedByResume))")
        line("# HELP spool_resumes_total Attempts that went on from their job's checkpoint.")
        line("# TYPE spool_resumes_total counter")
        line("spool_resumes_total \(stats.resumes)")
        line("# HELP spool_encode_frames_per_second Frames encoded per second of encoder work, over finished jobs.")
        line("# TYPE spool_encode_frames_per_second gauge")
        line("spool_encode_frames_per_second \(Self.format(stats.encodeBusySeconds > 0 ? Double(stats.framesEncoded) / stats.encodeBusySeconds : 0))")
        line("# HELP spool_encoded_frames_total Frames encoded by finished jobs.")
        line("# TYPE spool_encoded_frames_total counter")
        line("spool_encoded_frames_total \(stats.framesEncoded)")
        line("# HELP spool_event_streams_open Event streams (GET /v1/jobs/{id}/events) open now.")
        line("# TYPE spool_event_streams_open gauge")
        line("spool_event_streams_open \(eventStreams.value)")
        line("# HELP spool_attempts_started_total Worker attempts started.")
        line("# TYPE spool_attempts_started_total counter")
        line("spool_attempts_started_total \(stats.attemptsStarted)")
        line("# HELP spool_disk_free_bytes Space left where the host writes, by folder.")
        line("# TYPE spool_disk_free_bytes gauge")
        for folder in DiskSpace(configuration: host.configuration).folders() {
            line("spool_disk_free_bytes{folder=\"\(folder.name)\"} \(folder.freeBytes)")
        }
        line("# HELP spool_disk_space_short Whether jobs wait on this host for disk space.")
        line("# TYPE spool_disk_space_short gauge")
        line("spool_disk_space_short \(await host.dispatcher.diskSpaceShortage == nil ? 0 : 1)")
        line("# HELP spool_store_write_failures_total Writes the job store refused (every try counts).")
        line("# TYPE spool_store_write_failures_total counter")
        line("spool_store_write_failures_total \(stats.storeWriteFailures)")
        line("# HELP spool_outcomes_pending Outcomes of attempts kept until the store accepts writes again.")
        line("# TYPE spool_outcomes_pending gauge")
        line("spool_outcomes_pending \(stats.pendingOutcomes)")
        line("# HELP spool_orphans_settled_total Jobs the store said ran here that no execution held, settled by the reconciler.")
        line("# TYPE spool_orphans_settled_total counter")
        line("spool_orphans_settled_total \(stats.orphansSettled)")
        if let sent = webhooks?.snapshot {
            line("# HELP spool_webhook_tries_total Webhook tries this host made, by what came of them: delivered (a 2xx), retried (failed, tried again later), abandoned (410, a refused target, or out of time).")
            line("# TYPE spool_webhook_tries_total counter")
            line("spool_webhook_tries_total{result=\"delivered\"} \(sent.delivered)")
            line("spool_webhook_tries_total{result=\"retried\"} \(sent.retried)")
            line("spool_webhook_tries_total{result=\"abandoned\"} \(sent.abandoned)")
        }
        return out
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// How many of something are open now.
final class OpenCount: Sendable {
    private let count = Atomic(0)

    var value: Int { count.load(ordering: .relaxed) }
    func opened() { count.add(1, ordering: .relaxed) }
    func closed() { count.subtract(1, ordering: .relaxed) }
}
