import ArgumentParser
import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore

/// `spool submit`: submits a job file, or a job described by flags.
struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Submit a job; --wait to follow it to the end.")

    @Argument(help: "A job file (JSON). Flags below override its fields.")
    var file: String?
    @Option(help: "The prompt.") var prompt: String?
    @Option(help: "Frames, 1…1440 (24 a second).") var frames: Int?
    @Option(help: "Frame size, WIDTHxHEIGHT.") var size: String?
    @Option(help: "Seed.") var seed: UInt64?
    @Option(help: "Priority, -100…100; higher runs first.") var priority: Int?
    @Option(help: "Pipeline; auto: Spool chooses one by --tier, --deadline and --max-gpu-seconds (Pipelines/routes.json).") var pipeline: String?
    @Option(help: "With --pipeline auto: draft, standard or best. Default: standard.") var tier: String?
    @Option(help: "With --pipeline auto: the video done within this many seconds of submission.") var deadline: Double?
    @Option(help: "With --pipeline auto: the most GPU-seconds the video may cost.") var maxGpuSeconds: Double?
    @Option(help: "Base name of the output files.") var outputName: String?
    @Option(help: "Idempotency key: submitting again returns the first job.") var idempotencyKey: String?
    @Option(name: .customLong("option"), help: "A worker setting the pipeline lets jobs set, NAME=VALUE (e.g. steps=30); repeatable.")
    var workerOptions: [String] = []
    @Option(help: "Image-to-video: an image file to start from (PNG, JPEG, WebP, …).") var image: String?
    @Option(help: "Video-to-video: a clip to continue (MP4, MOV, WebM, …).") var video: String?
    @Flag(help: "With --video: the MP4 starts with the clip, then the generated frames.") var includeInput = false
    @Option(
        name: .customLong("prompt-at"), parsing: .upToNextOption,
        help: "A prompt schedule entry, SECONDS PROMPT: from SECONDS of the video on, PROMPT (repeatable; the first at 0; --prompt is the first when no entry is at 0).")
    var promptAt: [String] = []
    @Option(help: "Chunks a change of prompt blends over; 0 cuts. Default: 0.") var transitionChunks: Int?
    @Option(help: "A URL told of the job's end by a signed POST (Standard Webhooks).") var webhook: String?
    @Option(name: .customLong("webhook-event"), help: "An event the webhook is told of: job.started, job.succeeded, job.failed, job.cancelled (repeatable). Default: every final one.")
    var webhookEvents: [String] = []
    @Flag(help: "Wait for the job to end, showing its progress; exit 1 if it fails.") var wait = false
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let (spec, named) = try makeSpec()
        let client = try options.client()
        var files = named
        for (kind, path) in [(JobInput.Kind.image, image), (.video, video)] {
            guard let path else { continue }
            guard FileManager.default.isReadableFile(atPath: path) else { throw ValidationError("--\(kind.rawValue): cannot read \(path)") }
            files[kind] = URL(fileURLWithPath: path)
        }
        let upload = files
        let (job, created) = try await withClient { () throws(ClientError) in try await client.submit(spec, files: upload) }
        if !wait {
            if options.json { try options.printJSON(job) } else {
                let position = job.queuePosition.map { ", queue position \($0)" } ?? ""
                print("\(created ? "submitted" : "already submitted") \(job.id) (\(job.state)\(position))")
            }
            return
        }
        if !options.json { FileHandle.standardError.write(Data("\(created ? "submitted" : "already submitted") \(job.id)\n".utf8)) }
        try await follow(job.id, client: client, options: options)
    }

    /// The job, and the input files its job file names beside it (`"image": "fox.png"`,
    /// relative to the job file's folder, as in the drop folder).
    func makeSpec() throws -> (JobSpec, [JobInput.Kind: URL]) {
        var spec: JobSpec
        var files: [JobInput.Kind: URL] = [:]
        if let file {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw ValidationError("cannot read \(file): \(error.localizedDescription)")
            }
            var contents = data
            if var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
                let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
                for kind in JobInput.Kind.allCases {
                    guard let name = object[kind.rawValue] as? String else { continue }
                    files[kind] = name.hasPrefix("/") ? URL(fileURLWithPath: name) : folder.appendingPathComponent(name)
                    object[kind.rawValue] = nil
                }
                if !files.isEmpty { contents = (try? JSONSerialization.data(withJSONObject: object)) ?? data }
            }
            do { spec = try JSONDecoder().decode(JobSpec.self, from: contents) } catch {
                throw ValidationError("\(file) is not a job file: \(error)")
            }
        } else {
            guard let prompt, let frames else {
                throw ValidationError("give a job file, or at least --prompt and --frames")
            }
            spec = JobSpec(prompt: prompt, frames: frames)
        }
        if let prompt { spec.prompt = prompt }
        if let frames { spec.frames = frames }
        if let size {
            guard let parsed = FrameSize(parsing: size) else { throw ValidationError("--size takes WIDTHxHEIGHT, e.g. 640x384") }
            spec.width = parsed.width
            spec.height = parsed.height
        }
        if let seed { spec.seed = seed }
        if let priority { spec.priority = priority }
        if let pipeline { spec.pipeline = pipeline }
        if let tier {
            guard let parsed = RouteTier(rawValue: tier) else {
                throw ValidationError("--tier takes \(RouteTier.names), not \(tier)")
            }
            spec.tier = parsed
        }
        if let deadline { spec.deadlineSeconds = deadline }
        if let maxGpuSeconds { spec.maxGpuSeconds = maxGpuSeconds }
        if let outputName { spec.outputName = outputName }
        if let idempotencyKey { spec.idempotencyKey = idempotencyKey }
        if includeInput { spec.includeInput = true }
        if let transitionChunks { spec.transitionChunks = transitionChunks }
        if let webhook { spec.webhook = webhook }
        if !webhookEvents.isEmpty {
            spec.webhookEvents = try webhookEvents.map { name in
                guard let event = WebhookEvent(rawValue: name) else {
                    throw ValidationError("--webhook-event takes \(WebhookEvent.allCases.map(\.rawValue).joined(separator: ", ")), not \(name)")
                }
                return event
            }
        }
        if !promptAt.isEmpty {
            guard promptAt.count % 2 == 0 else {
                throw ValidationError("--prompt-at takes SECONDS PROMPT, e.g. --prompt-at 20 \"the fox reaches the river\"")
            }
            var schedule: [ScheduledPrompt] = []
            for index in stride(from: 0, to: promptAt.count, by: 2) {
                guard let at = Double(promptAt[index]), at >= 0 else {
                    throw ValidationError("--prompt-at takes SECONDS PROMPT; \"\(promptAt[index])\" is not a number of seconds")
                }
                schedule.append(ScheduledPrompt(at: at, prompt: promptAt[index + 1]))
            }
            schedule.sort { $0.at < $1.at }
            if schedule.first?.at != 0 { schedule.insert(ScheduledPrompt(at: 0, prompt: spec.prompt), at: 0) }
            spec.prompts = schedule
        }
        for option in workerOptions {
            guard let equals = option.firstIndex(of: "="), equals != option.startIndex else {
                throw ValidationError("--option takes NAME=VALUE, e.g. steps=30; got \"\(option)\"")
            }
            spec.options[String(option[..<equals])] = String(option[option.index(after: equals)...])
        }
        return (spec, files)
    }
}

/// `spool status ID`.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a job.")
    @Argument(help: "Job id.") var id: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        let job = try await withClient { () throws(ClientError) in try await client.job(id) }
        let attempts = try await withClient { () throws(ClientError) in try await client.attempts(id) }
        let webhooks = try await withClient { () throws(ClientError) in try await client.webhooks(id) }
        if options.json {
            return try options.printJSON(JobWithAttempts(job: job, attempts: attempts.attempts, webhooks: webhooks.deliveries))
        }
        print(describe(job))
        if !attempts.attempts.isEmpty { print(describe(attempts)) }
        if !webhooks.deliveries.isEmpty { print(describe(webhooks)) }
    }
}

/// `spool status --json`: the job resource, with its attempts and webhook deliveries
/// beside its other fields.
struct JobWithAttempts: Encodable {
    var job: JobResource
    var attempts: [AttemptList.Entry]
    var webhooks: [WebhookDeliveryList.Entry]

    enum Key: String, CodingKey { case attempts, webhooks }

    func encode(to encoder: any Encoder) throws {
        try job.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(webhooks, forKey: .webhooks)
    }
}

/// `spool list`.
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
    @Option(help: "Only these states, comma-separated.") var state: String?
    @Option(help: "At most this many.") var limit = 50
    @OptionGroup var options: ClientOptions

    func run() async throws {
        var states: [JobState] = []
        for part in (state ?? "").split(separator: ",") {
            guard let parsed = JobState(rawValue: String(part)) else {
                throw ValidationError("unknown state \(part); use \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            states.append(parsed)
        }
        let client = try options.client()
        let page = try await withClient { () throws(ClientError) in try await client.list(states: states, limit: limit) }
        if options.json { return try options.printJSON(page) }
        print("ID                                    STATE      PROGRESS      PIPELINE    PROMPT")
        for job in page.jobs {
            let progress = "\(job.progress.framesDone)/\(job.progress.framesTotal)"
            print("\(job.id)  \(job.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  \(progress.padding(toLength: 12, withPad: " ", startingAt: 0))  \((job.spec.pipeline ?? "").padding(toLength: 10, withPad: " ", startingAt: 0))  \(job.spec.prompt.prefix(40))")
        }
    }
}

/// `spool cancel ID`.
struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued or running job.")
    @Argument(help: "Job id.") var id: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        let job = try await withClient { () throws(ClientError) in try await client.cancel(id) }
        if options.json { return try options.printJSON(job) }
        print("cancelled \(job.id)")
    }
}

/// `spool watch ID`.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow a job to the end; exit 1 if it fails.")
    @Argument(help: "Job id.") var id: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await follow(id, client: try options.client(), options: options)
    }
}

/// `spool gpus`.
struct GPUs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gpus", abstract: "Show the daemon's GPU slots.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        let list = try await withClient { () throws(ClientError) in try await client.gpus() }
        if options.json { return try options.printJSON(list) }
        print("host \(list.host)")
        for slot in list.slots {
            let what = slot.kind == "cuda" ? "\(slot.model ?? "GPU")\(slot.memoryMiB.map { ", \($0) MiB" } ?? "")" : "virtual (CPU pipelines)"
            let holds = slot.holds.map { "  holds \($0) (\(slot.jobsServed) jobs)" } ?? ""
            print("  \(slot.name.padding(toLength: 9, withPad: " ", startingAt: 0)) \(what)  \(slot.busy ? "busy: \(slot.job ?? "")" : slot.state)\(holds)  \(String(format: "%.1f", slot.gpuSeconds)) GPU-s, \(String(format: "%.1f", slot.loadingSeconds)) s loading")
        }
    }
}

struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "Show GPU-seconds used over the last day, and jobs queued and running, by tenant.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        let report = try await withClient { () throws(ClientError) in try await client.usage() }
        if options.json { return try options.printJSON(report) }
        print("TENANT          GPU-S (24 H)  QUEUED  RUNNING  LIMITS")
        for row in report.tenants {
            var limits: [String] = []
            if let most = row.limits?.gpuSecondsPerDay { limits.append("\(String(format: "%g", most)) GPU-s a day") }
            if let most = row.limits?.maxRunning { limits.append("max \(most) running") }
            if let most = row.limits?.maxQueued { limits.append("max \(most) queued") }
            if let most = row.limits?.maxGpuSecondsPerJob { limits.append("\(String(format: "%g", most)) GPU-s per job") }
            let name = (row.tenant ?? "(host)").padding(toLength: 15, withPad: " ", startingAt: 0)
            print("\(name) \(String(format: "%12.1f", row.gpuSeconds))  \(String(format: "%6d", row.queued))  \(String(format: "%7d", row.running))  \(limits.isEmpty ? "-" : limits.joined(separator: ", "))")
            if let reason = row.waitingReason { print("                waiting: \(reason)") }
        }
        print("\(report.queuedInPool) jobs queued in the pool, every tenant's")
    }
}

/// Follows a job with a live bar on a terminal, plain lines otherwise; exits 1 unless it succeeds.
func follow(_ id: String, client: SpoolClient, options: ClientOptions) async throws {
    let live = isatty(STDERR_FILENO) == 1 && !options.json
    let line = ProgressLine(live: live)
    let job = try await withClient { () throws(ClientError) in
        try await client.follow(id) { job in
            guard !options.json else { return }
            if live {
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(line.render(job))".utf8))
            } else {
                FileHandle.standardError.write(Data("\(line.render(job))\n".utf8))
            }
        }
    }
    if live { FileHandle.standardError.write(Data("\n".utf8)) }
    if options.json {
        try options.printJSON(job)
    } else if job.state == .succeeded {
        print(job.videoPath ?? (options.server + (job.videoURL ?? "")))
    } else {
        FileHandle.standardError.write(Data("spool: job \(job.id) \(job.state): \(job.error ?? "no reason given")\n".utf8))
    }
    if job.state != .succeeded { throw SpoolExit.jobFailed }
}

/// A job's attempts in words, one line each, for `spool status`.
func describe(_ list: AttemptList) -> String {
    let time = DateFormatter()
    time.dateFormat = "HH:mm:ss"
    var lines = ["history"]
    for attempt in list.attempts {
        var line = "  \(attempt.number)  \(attempt.outcome.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))"
            + " \(attempt.host)/\(attempt.gpu)  \(time.string(from: attempt.startedAt))"
            + "\(attempt.endedAt.map { "–\(time.string(from: $0))" } ?? "")"
            + String(format: "  %.3f GPU-s", attempt.gpuSeconds)
        if let load = attempt.loadSeconds, attempt.coldStart == true { line += String(format: ", loaded the model in %.1f s", load) }
        if let frame = attempt.resumedFromFrame { line += ", resumed from frame \(frame)" }
        if let note = attempt.resumeNote { line += ", started over: \(note)" }
        if let error = attempt.error { line += "  \(error)" }
        lines.append(line)
    }
    return lines.joined(separator: "\n")
}

/// A job's webhook deliveries in words, one line each, for `spool status`.
func describe(_ list: WebhookDeliveryList) -> String {
    let time = DateFormatter()
    time.dateFormat = "HH:mm:ss"
    var lines = ["webhooks"]
    for delivery in list.deliveries {
        let answers = delivery.tries.map { $0.statusCode.map(String.init) ?? "no answer" }.joined(separator: ", ")
        var line = "  \(delivery.event.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(delivery.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))"
            + " \(delivery.url)  \(delivery.tries.count) tr\(delivery.tries.count == 1 ? "y" : "ies")\(answers.isEmpty ? "" : " (\(answers))")"
        if let next = delivery.nextAttemptAt { line += ", next at \(time.string(from: next))" }
        if delivery.state != .delivered, let error = delivery.lastError { line += "  \(error)" }
        lines.append(line)
    }
    return lines.joined(separator: "\n")
}

/// A job in words, for `spool status`.
func describe(_ job: JobResource) -> String {
    var lines = ["job      \(job.id)", "state    \(job.state)"]
    if let position = job.queuePosition { lines.append("queue    position \(position)") }
    if let reason = job.waitingReason { lines.append("waiting  \(reason)") }
    lines.append("prompt   \(job.spec.prompt)")
    lines.append("video    \(job.spec.frames) frames (\(String(format: "%.3f", Double(job.spec.frames) / 24)) s) at \(job.spec.width ?? 0)x\(job.spec.height ?? 0), pipeline \(job.spec.pipeline ?? "?"), seed \(job.spec.seed ?? 0)")
    lines.append("progress \(job.progress.framesDone)/\(job.progress.framesTotal) frames, \(job.progress.chunksDone)/\(job.progress.chunksTotal.map(String.init) ?? "?") chunks (\(job.progress.percent)%)")
    let spared = job.sparedAttempts > 0 ? " (\(job.sparedAttempts) not counted: interrupted or preempted)" : ""
    lines.append("attempts \(job.attempts) of \(job.maxAttempts)\(spared)\(job.gpu.map { " on \($0)" } ?? "")\(job.host.map { " at \($0)" } ?? "")")
    if let checkpoint = job.checkpoint {
        lines.append("checkpoint after chunk \(checkpoint.chunk) (frames 0-\(checkpoint.frame - 1) final)")
    }
    let t = job.timings
    func s(_ v: Double?) -> String { v.map { String(format: "%.3f s", $0) } ?? "-" }
    lines.append("timings  queue \(s(t.queueWait)), first chunk \(s(t.timeToFirstChunk)), generation \(s(t.generationTime)), encode tail \(s(t.encodeTail)), total \(s(t.totalLatency))")
    lines.append("cost     \(String(format: "%.3f", job.gpuSeconds)) GPU-seconds\(job.realTimeFactor.map { String(format: ", real-time factor %.2f", $0) } ?? "")")
    if let quality = job.quality {
        let seams = quality.seamWorst.map { worst in
            String(format: "seams worst %.2fx at frame %d, mean %.2fx", worst, quality.seamWorstFrame ?? 0, quality.seamMean ?? worst)
        } ?? "one chunk"
        lines.append(
            "quality  \(seams); flicker \(String(format: "%.2f", quality.flicker)); \(quality.frozenFrames) frozen frames"
                + String(format: "; drift brightness %+.1f, contrast %.2fx, colour %.1f", quality.drift.brightness, quality.drift.contrast, quality.drift.colour))
    }
    if let routing = job.routing {
        let limits = [routing.deadlineSeconds.map { "deadline \(Int($0)) s" }, routing.maxGpuSeconds.map { "budget \(Int($0)) GPU-s" }]
            .compactMap { $0 }.joined(separator: ", ")
        lines.append("routing  tier \(routing.tier.rawValue)\(limits.isEmpty ? "" : " (\(limits))"): \(routing.chosen), \(routing.reason)")
        for candidate in routing.candidates where !candidate.fits {
            lines.append("         passed over \(candidate.pipeline): \(candidate.reason)")
        }
        for move in routing.moves {
            lines.append("         moved from \(move.from) to \(move.to) after attempt \(move.afterAttempt) failed")
        }
    }
    if let error = job.error { lines.append("error    \(error)") }
    if let path = job.videoPath { lines.append("output   \(path)") }
    return lines.joined(separator: "\n")
}
