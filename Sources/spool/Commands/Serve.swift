import ArgumentParser
import Foundation
import Logging
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolScheduler
import SpoolPostgres
import SpoolSQLite
import ServiceLifecycle
import SpoolServer
import SpoolWebhooks

/// `spool serve`: runs the daemon until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Spool daemon.")

    @Option(help: "JSON file of settings keyed by these options' long names (see Samples/spool.json). Options given here win over it.")
    var config: String?

    @Option(help: "Data directory: the job store, work folders, videos and the drop folder. Default: $SPOOL_DATA or ~/.local/share/spool.")
    var data: String?

    @Option(help: "Job store: sqlite (<data>/spool.sqlite, one machine) or a postgres:// URL shared by many hosts. Default: $SPOOL_STORE or sqlite.")
    var store: String?

    @Option(help: "Folder for finished videos; hosts sharing a PostgreSQL queue should share it. Default: <data>/videos.")
    var videos: String?

    @Option(help: "Folder for workers' raw chunks, best on a file system apart from the data folder's. Default: <data>/work.")
    var work: String?

    @Option(help: "Folder for jobs' images and clips, kept by SHA-256; hosts sharing a PostgreSQL queue must share it. Default: <videos>/.inputs when --videos is given, else <data>/inputs.")
    var inputs: String?

    @Option(help: "Hours an input no job refers to any more is kept after its last use. Default: 24.")
    var inputRetentionHours: Double?

    @Option(name: .customLong("max-image-mib"), help: "MiB an image a job starts from may be; a larger upload is refused as it arrives. Default: 50.")
    var maxImageMiB: Int?

    @Option(name: .customLong("max-video-mib"), help: "MiB a clip a job continues may be; a larger upload is refused as it arrives. Default: 512.")
    var maxVideoMiB: Int?

    @Option(help: "MiB kept free in the work and videos folders beyond what a job may need; a job that would leave less waits. Default: 512.")
    var minFreeSpace: Int?

    @Option(help: "GPUs to use: auto (every GPU nvidia-smi finds), none, or indices such as 0,2. Default: auto.")
    var gpus: String?

    @Option(help: "CPU-only slots for pipelines that need no GPU. Default: 0 when GPUs are used, else 1.")
    var virtualSlots: Int?

    @Option(help: "Folder of pipeline definitions. Default: $SPOOL_PIPELINES, or the Pipelines folder shipped with Spool.")
    var pipelines: String?

    @Option(help: "Pipeline for jobs that name none. Default: synthetic.")
    var defaultPipeline: String?

    @Option(help: "This host's name in the store. Default: the machine's host name.")
    var host: String?

    @Option(help: "Video codec: h264, h265, av1 or h264_nvenc. Default: h264.")
    var codec: String?

    @Option(help: "Quality: CRF for the software encoders, CQ for NVENC. Default: the codec's own.")
    var crf: Int?

    @Option(help: "Encoder preset. Default: the codec's own (medium for x264).")
    var preset: String?

    @Option(help: "x264 rate-control look-ahead in frames: lower shortens the encode tail, higher compresses a little better. Default: 20.")
    var lookahead: Int?

    @Option(help: "CPU priority of encoding: idle (runs only on CPU time nothing else wants) or a nice value 0-19 (a share of a busy CPU). Default: idle.")
    var encoderPriority: String?

    @Option(help: "MiB of raw frames a job's worker may write ahead of the encoder; past it the worker is paused (SIGSTOP) until the encoder is halfway back. 0: no bound. Default: 1024.")
    var rawBacklog: Int?

    @Option(help: "Attempts per job before it fails. Default: 3.")
    var maxAttempts: Int?

    @Option(help: "Per-attempt time limit in seconds for jobs that set none.")
    var timeLimit: Double?

    @Option(help: "A resident pipeline to load at start, before any job asks; repeat it to warm more slots.")
    var warm: [String] = []

    @Option(help: "Seconds a resident worker may hold its model with no job before it is stopped, freeing its GPU. Default: 900.")
    var residentIdleSeconds: Double?

    @Option(help: "With a shared queue: seconds a host that would have to load a model leaves a new job of its pipeline to a host holding that model ready. Default: 1.")
    var affinityGraceSeconds: Double?

    @Option(help: "Seconds a claim holds without renewal. Default: 30.")
    var leaseSeconds: Double?

    @Option(help: "Seconds between heartbeats. Default: 5.")
    var heartbeatSeconds: Double?

    @Option(help: "On SIGTERM, seconds running jobs may take to finish before they are requeued. Default: 30.")
    var shutdownGrace: Double?

    @Option(help: "Address the HTTP API listens on, HOST:PORT. Anything but loopback needs --token-file. Default: 127.0.0.1:8750.")
    var listen: String?

    @Option(help: "File holding the bearer token HTTP clients must send. Default: $SPOOL_TOKEN_FILE; none on loopback.")
    var tokenFile: String?

    @Option(help: "Seconds an HTTP connection may take to send a whole request head; past it, it is closed. Default: 60.")
    var requestHeadTimeout: Double?

    @Option(help: "Seconds an HTTP connection may sit idle between requests. Event streams are never timed out. Default: 75.")
    var keepAliveTimeout: Double?

    @Flag(help: "Do not watch <data>/inbox for job files.")
    var noDropFolder = false

    @Option(help: "Write each job's video also as a live HLS playlist while it encodes, at /v1/jobs/ID/live.m3u8: on or off. Default: on.")
    var livePreview: String?

    @Option(help: "Minutes a job's live preview is kept after the job ends. Default: 10.")
    var liveRetentionMinutes: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error. Default: info.")
    var logLevel: String?

    @Option(help: "A URL told of every job submitted here when it succeeds, fails or is cancelled (Standard Webhooks, signed); repeat it for more.")
    var webhook: [String] = []

    @Option(help: "File holding the secret webhooks are signed with, whsec_<base64>. Default: <data>/webhook-secret, created on first start.")
    var webhookSecretFile: String?

    @Flag(help: "Print the webhook secret (creating it if there is none yet) and exit.")
    var showWebhookSecret = false

    @Flag(help: "Allow webhooks to loopback, link-local and private addresses (refused by default, so jobs cannot reach into this network).")
    var webhookAllowPrivate = false

    @Option(help: "Waits between a webhook's retries, comma-separated, each in s, m or h; the last repeats. Default: 5s,5m,30m,2h,5h,10h.")
    var webhookRetryDelays: String?

    @Option(help: "Hours after its event a webhook is retried before it is abandoned. Default: 24.")
    var webhookMaxAgeHours: Double?

    @Option(help: "Seconds a webhook's receiver has to answer. Default: 15.")
    var webhookTimeout: Double?

    func run() async throws {
        // First, before any task starts: see EventLoopExecutor for why.
        let onEventLoops = EventLoopExecutor.install(environment: ProcessInfo.processInfo.environment)
        let file: ServeConfigFile
        do {
            file = try config.map(ServeConfigFile.load(path:)) ?? ServeConfigFile()
        } catch {
            throw ValidationError("\(error)")
        }
        let level = Logger.Level(rawValue: logLevel ?? file.logLevel ?? "info") ?? .info
        LoggingSystem.bootstrap { label in SpoolLogHandler(label: label, level: level) }
        let logger = Logger(label: "spool")
        logger.info("tasks run on \(onEventLoops ? "the HTTP server's event loops" : "Swift's default executor")")

        let gpus = gpus ?? file.gpus ?? "auto"
        guard let selection = GPUInventory.Selection(parsing: gpus) else {
            throw ValidationError("--gpus takes auto, none, or GPU indices such as 0,2, not \(gpus)")
        }
        let codecName = codec ?? file.codec ?? EncoderSettings.Codec.h264.rawValue
        guard let codec = EncoderSettings.Codec(rawValue: codecName) else {
            throw ValidationError("--codec takes \(EncoderSettings.Codec.allCases.map(\.rawValue).joined(separator: ", ")), not \(codecName)")
        }
        let priorityName = encoderPriority ?? file.encoderPriority ?? EncodingPriority.default.description
        guard let priority = EncodingPriority(parsing: priorityName) else {
            throw ValidationError("--encoder-priority takes idle or a nice value from 0 to 19, not \(priorityName)")
        }
        let backlog = rawBacklog ?? file.rawBacklog ?? SchedulerConfiguration.defaultRawBacklogBytes >> 20
        guard (0...(1 << 40)).contains(backlog) else {
            throw ValidationError("--raw-backlog takes MiB, 0 for no bound, not \(backlog)")
        }
        let detected = selection == .none ? [] : GPUInventory.detect()
        let virtual = virtualSlots ?? file.virtualSlots ?? (selection == .none || detected.isEmpty ? 1 : 0)
        let slots = try GPUInventory.slots(selection: selection, virtualSlots: virtual, detected: detected)
        if selection == .auto && detected.isEmpty {
            logger.notice("no NVIDIA GPU found (nvidia-smi); running \(virtual) virtual slot(s) for CPU pipelines")
        }
        let listen = listen ?? file.listen ?? "127.0.0.1:\(HTTPServerConfiguration.defaultPort)"
        guard let address = HTTPServerConfiguration.parseListen(listen) else {
            throw ValidationError("--listen takes HOST:PORT, for example 127.0.0.1:8750, not \(listen)")
        }
        var token: String?
        if let path = tokenFile ?? file.tokenFile ?? ProcessInfo.processInfo.environment["SPOOL_TOKEN_FILE"] {
            do {
                token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ValidationError("cannot read the token file \(path): \(error.localizedDescription)")
            }
            if token?.isEmpty != false { throw ValidationError("the token file \(path) is empty") }
        }
        let http = HTTPServerConfiguration(
            host: address.host, port: address.port, token: token,
            answersPollsInPipeline: ProcessInfo.processInfo.environment["SPOOL_POLL_PIPELINE"] != "0",
            requestHeadTimeout: requestHeadTimeout ?? file.requestHeadTimeout ?? HTTPServerConfiguration.defaultRequestHeadTimeout,
            keepAliveTimeout: keepAliveTimeout ?? file.keepAliveTimeout ?? HTTPServerConfiguration.defaultKeepAliveTimeout)
        if let problem = http.problem { throw ValidationError(problem) }
        let root = (data ?? file.data).map { DataDirectory($0) } ?? .default
        let dataDirectory = DataDirectory(
            root.root, videos: videos ?? file.videos, work: work ?? file.work, inputs: inputs ?? file.inputs)
        let retentionHours = inputRetentionHours ?? file.inputRetentionHours ?? 24
        guard retentionHours > 0 else { throw ValidationError("--input-retention-hours takes a positive number of hours") }
        var inputLimits = InputLimits()
        for (option, value, keyPath) in [
            ("--max-image-mib", maxImageMiB ?? file.maxImageMiB, \InputLimits.maxImageBytes),
            ("--max-video-mib", maxVideoMiB ?? file.maxVideoMiB, \InputLimits.maxVideoBytes),
        ] {
            guard let value else { continue }
            guard (1...(1 << 20)).contains(value) else { throw ValidationError("\(option) takes MiB, 1 or more, not \(value)") }
            inputLimits[keyPath: keyPath] = value << 20
        }
        let minFree = minFreeSpace ?? file.minFreeSpace ?? SchedulerConfiguration.defaultMinFreeSpaceBytes >> 20
        guard (0...(1 << 30)).contains(minFree) else {
            throw ValidationError("--min-free-space takes MiB, 0 or more, not \(minFree)")
        }
        let catalog = try PipelineCatalog.load(folder: pipelines ?? file.pipelines ?? PipelineLocator.defaultFolder())
        var configuration = SchedulerConfiguration(
            host: host ?? file.host ?? ProcessInfo.processInfo.hostName, data: dataDirectory, slots: slots,
            defaultPipeline: defaultPipeline ?? file.defaultPipeline ?? "synthetic", encoder: EncoderSettings(
                codec: codec, quality: crf ?? file.crf, preset: preset ?? file.preset,
                lookahead: codec == .h264 ? lookahead ?? file.lookahead ?? EncoderSettings.streamingLookahead : nil),
            encodingPriority: priority, rawBacklogBytes: backlog == 0 ? nil : backlog << 20,
            retry: RetryPolicy(maxAttempts: maxAttempts ?? file.maxAttempts ?? 3),
            defaultTimeLimitSeconds: timeLimit ?? file.timeLimit,
            leaseSeconds: leaseSeconds ?? file.leaseSeconds ?? 30, heartbeatSeconds: heartbeatSeconds ?? file.heartbeatSeconds ?? 5,
            shutdownGraceSeconds: shutdownGrace ?? file.shutdownGrace ?? 30, minFreeSpaceBytes: minFree << 20,
            warm: warm.isEmpty ? file.warm ?? [] : warm,
            residentIdleSeconds: residentIdleSeconds ?? file.residentIdleSeconds ?? SchedulerConfiguration.defaultResidentIdleSeconds,
            affinityGraceSeconds: affinityGraceSeconds ?? file.affinityGraceSeconds ?? 1,
            inputLimits: inputLimits, inputRetentionSeconds: retentionHours * 3_600)
        for name in configuration.warm where catalog[name]?.resident != true {
            throw ValidationError("--warm names \(name), which is not a resident pipeline (known resident: \(catalog.definitions.values.filter(\.resident).map(\.name).sorted().joined(separator: ", ")))")
        }
        try dataDirectory.create()
        let secretPath = webhookSecretFile ?? file.webhookSecretFile ?? dataDirectory.root + "/webhook-secret"
        let secret: WebhookSecret
        do {
            secret = try WebhookSecret.load(path: secretPath, create: webhookSecretFile ?? file.webhookSecretFile == nil)
        } catch {
            throw ValidationError(error.description)
        }
        if showWebhookSecret {
            print(secret.text)
            return
        }
        var delays = WebhookRetryPolicy.standard.delays
        if let text = webhookRetryDelays ?? file.webhookRetryDelays {
            guard let parsed = WebhookRetryPolicy.parseDelays(text) else {
                throw ValidationError("--webhook-retry-delays takes waits such as 5s,5m,30m,2h, not \(text)")
            }
            delays = parsed
        }
        let maxAgeHours = webhookMaxAgeHours ?? file.webhookMaxAgeHours ?? 24
        let webhookTimeout = webhookTimeout ?? file.webhookTimeout ?? 15
        guard maxAgeHours > 0, webhookTimeout > 0 else {
            throw ValidationError("--webhook-max-age-hours and --webhook-timeout take positive numbers")
        }
        let live = livePreview ?? file.livePreview ?? "on"
        guard live == "on" || live == "off" else { throw ValidationError("--live-preview takes on or off, not \(live)") }
        configuration.livePreview = live == "on"
        let liveMinutes = liveRetentionMinutes ?? file.liveRetentionMinutes ?? 10
        guard liveMinutes >= 0 else { throw ValidationError("--live-retention-minutes takes minutes, 0 or more") }
        configuration.liveRetentionSeconds = liveMinutes * 60
        let allowPrivate = webhookAllowPrivate || file.webhookAllowPrivate == true
        configuration.webhookAllowPrivate = allowPrivate
        for url in webhook.isEmpty ? file.webhook ?? [] : webhook {
            if let problem = WebhookTarget.urlProblem(url) { throw ValidationError("--webhook \(url) \(problem)") }
            if !allowPrivate, let refusal = WebhookTarget.literalRefusal(url) { throw ValidationError("--webhook \(url): \(refusal)") }
            configuration.webhooks.append(WebhookSubscription(url: url))
        }
        let storeName = store ?? file.store ?? ProcessInfo.processInfo.environment["SPOOL_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? "sqlite"
        let store: any JobStore
        if storeName == "sqlite" {
            store = try SQLiteJobStore(path: dataDirectory.storePath)
        } else if storeName.hasPrefix("postgres://") || storeName.hasPrefix("postgresql://") {
            let address: PostgresStoreAddress
            do {
                address = try PostgresStoreAddress(url: storeName)
            } catch {
                throw ValidationError("--store: \(error)")
            }
            do {
                store = try await PostgresJobStore.connect(address, logger: logger)
            } catch {
                logger.critical("\(error)")
                throw ExitCode(69)
            }
            logger.info("sharing the PostgreSQL queue \(address)")
        } else {
            throw ValidationError("--store takes sqlite or a postgres:// URL, not \(storeName)")
        }
        let host = try SpoolHost(store: store, pipelines: catalog, configuration: configuration, logger: logger)
        logger.info("spool \(Spool.version) serving", metadata: [
            "data": "\(dataDirectory.root)", "videos": "\(dataDirectory.videos)", "pipelines": "\(catalog.names.joined(separator: ","))",
            "slots": "\(slots.map(\.description).joined(separator: "; "))",
        ])
        let sender = WebhookSender(
            store: store, events: host.events,
            configuration: WebhookSenderConfiguration(
                host: configuration.host, secret: secret,
                policy: WebhookRetryPolicy(delays: delays, maxAge: maxAgeHours * 3_600),
                allowPrivate: allowPrivate, timeoutSeconds: webhookTimeout),
            logger: logger)
        let metrics = SpoolMetrics(host: host, webhooks: sender.statistics)
        let server = try SpoolHTTPServer.make(
            host: host, metrics: metrics, configuration: http, logger: logger,
            onListening: { port in logger.info("HTTP API on http://\(address.host):\(port)") })
        // The sender stops after the dispatcher and the doors: jobs that end while the host
        // drains get their webhooks' first try.
        var doors: [any Service] = [sender, metrics, server]
        if !noDropFolder && file.dropFolder != false { doors.append(DropFolderService(host: host, logger: logger)) }
        try await host.run(with: doors, logger: logger)
    }
}
