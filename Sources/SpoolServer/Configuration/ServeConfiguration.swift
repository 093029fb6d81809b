import Foundation
import Logging
import SpoolCore
import SpoolMedia
import SpoolScheduler

/// What `spool serve` runs with, made from the settings given (``ServeSettings``): every value
/// checked, every default applied, in one place. Each problem is a ``SettingsError`` that
/// names the setting.
public struct ServeConfiguration: Sendable {
    /// Where the job store is.
    public enum Store: Sendable, Hashable {
        case sqlite
        /// A `postgres://` URL.
        case postgres(String)
    }

    public var scheduler: SchedulerConfiguration
    public var http: HTTPServerConfiguration
    public var store: Store
    /// The pipelines' folder.
    public var pipelines: String
    public var logLevel: Logger.Level
    public var dropFolder: Bool
    /// Whom the drop folder submits for (`--drop-folder-tenant`); the host itself by default.
    public var dropFolderPrincipal: Principal
    /// The webhook secret's file, and whether it is made when missing (the default file is).
    public var webhookSecretFile: String
    public var createsWebhookSecret: Bool
    public var webhookPolicy: WebhookRetryPolicy
    public var webhookTimeoutSeconds: Double
    /// The GPUs asked for, and whether none was found where some were (`--gpus auto`).
    public var gpuSelection: GPUInventory.Selection
    public var noGPUFound: Bool

    /// - Parameters:
    ///   - detectGPUs: the GPUs on this machine (`nvidia-smi`), asked only when GPUs may be used.
    ///   - defaultPipelines: the shipped `Pipelines/` folder.
    public init(
        _ values: SettingValues, environment: [String: String] = ProcessInfo.processInfo.environment,
        detectGPUs: () -> [GPUSlot] = GPUInventory.detect, defaultPipelines: () -> String
    ) throws(SettingsError) {
        typealias S = ServeSettings
        let levelName = values[S.logLevel] ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw SettingsError("--log-level takes trace, debug, info, notice, warning or error, not \(levelName)")
        }
        logLevel = level
        let gpus = values[S.gpus] ?? "auto"
        guard let selection = GPUInventory.Selection(parsing: gpus) else {
            throw SettingsError("--gpus takes auto, none, or GPU indices such as 0,2, not \(gpus)")
        }
        gpuSelection = selection
        let codecName = values[S.codec] ?? EncoderSettings.Codec.h264.rawValue
        guard let codec = EncoderSettings.Codec(rawValue: codecName) else {
            throw SettingsError("--codec takes \(EncoderSettings.Codec.allCases.map(\.rawValue).joined(separator: ", ")), not \(codecName)")
        }
        let priorityName = values[S.encoderPriority] ?? EncodingPriority.default.description
        guard let priority = EncodingPriority(parsing: priorityName) else {
            throw SettingsError("--encoder-priority takes idle or a nice value from 0 to 19, not \(priorityName)")
        }
        let backlog = values[S.rawBacklog] ?? SchedulerConfiguration.defaultRawBacklogBytes >> 20
        guard (0...(1 << 40)).contains(backlog) else { throw SettingsError("--raw-backlog takes MiB, 0 for no bound, not \(backlog)") }
        let detected = selection == .none ? [] : detectGPUs()
        noGPUFound = selection == .auto && detected.isEmpty
        let virtual = values[S.virtualSlots] ?? (selection == .none || detected.isEmpty ? 1 : 0)
        let slots: [GPUSlot]
        do {
            slots = try GPUInventory.slots(selection: selection, virtualSlots: virtual, detected: detected)
        } catch {
            throw SettingsError("\(error)")
        }

        let listen = values[S.listen] ?? "127.0.0.1:\(HTTPServerConfiguration.defaultPort)"
        guard let address = HTTPServerConfiguration.parseListen(listen) else {
            throw SettingsError("--listen takes HOST:PORT, for example 127.0.0.1:8750, not \(listen)")
        }
        var token: String?
        if let path = values[S.tokenFile] ?? environment["SPOOL_TOKEN_FILE"] {
            do {
                token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw SettingsError("cannot read the token file \(path): \(error.localizedDescription)")
            }
            if token?.isEmpty != false { throw SettingsError("the token file \(path) is empty") }
        }
        var tenants: TenantDirectory?
        if let path = values[S.tokens] {
            do {
                tenants = try TenantDirectory(path: path)
            } catch {
                throw SettingsError("\(error)")
            }
        }
        dropFolderPrincipal = .host
        if let name = values[S.dropFolderTenant] {
            guard let principal = tenants?.principal(named: name) else {
                throw SettingsError("--drop-folder-tenant names \(name), which is no tenant of --tokens")
            }
            dropFolderPrincipal = principal
        }
        http = HTTPServerConfiguration(
            host: address.host, port: address.port, token: token, tenants: tenants,
            answersPollsInPipeline: environment["SPOOL_POLL_PIPELINE"] != "0",
            requestHeadTimeout: values[S.requestHeadTimeout] ?? HTTPServerConfiguration.defaultRequestHeadTimeout,
            keepAliveTimeout: values[S.keepAliveTimeout] ?? HTTPServerConfiguration.defaultKeepAliveTimeout,
            eventKeepAlive: values[S.eventKeepAlive] ?? HTTPServerConfiguration.defaultEventKeepAlive)
        if let problem = http.problem { throw SettingsError(problem) }

        let root = values[S.data].map { DataDirectory($0) } ?? .default(environment: environment)
        let data = DataDirectory(
            root.root, videos: values[S.videos], work: values[S.work], inputs: values[S.inputs], checkpoints: values[S.checkpoints])
        let retentionHours = values[S.inputRetentionHours] ?? 24
        guard retentionHours > 0 else { throw SettingsError("--input-retention-hours takes a positive number of hours") }
        var inputLimits = InputLimits()
        for (key, keyPath) in [(S.maxImageMiB, \InputLimits.maxImageBytes), (S.maxVideoMiB, \InputLimits.maxVideoBytes)] {
            guard let value = values[key] else { continue }
            guard (1...(1 << 20)).contains(value) else { throw SettingsError("--\(key.setting.name) takes MiB, 1 or more, not \(value)") }
            inputLimits[keyPath: keyPath] = value << 20
        }
        let minFree = values[S.minFreeSpace] ?? SchedulerConfiguration.defaultMinFreeSpaceBytes >> 20
        guard (0...(1 << 30)).contains(minFree) else { throw SettingsError("--min-free-space takes MiB, 0 or more, not \(minFree)") }
        pipelines = values[S.pipelines] ?? environment["SPOOL_PIPELINES"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultPipelines()

        var scheduler = SchedulerConfiguration(
            host: values[S.host] ?? ProcessInfo.processInfo.hostName, data: data, slots: slots,
            defaultPipeline: values[S.defaultPipeline] ?? "synthetic",
            encoder: EncoderSettings(
                codec: codec, quality: values[S.crf], preset: values[S.preset],
                lookahead: codec == .h264 ? values[S.lookahead] ?? EncoderSettings.streamingLookahead : nil),
            encodingPriority: priority, rawBacklogBytes: backlog == 0 ? nil : backlog << 20,
            retry: RetryPolicy(maxAttempts: values[S.maxAttempts] ?? 3),
            defaultTimeLimitSeconds: values[S.timeLimit],
            leaseSeconds: values[S.leaseSeconds] ?? 30, heartbeatSeconds: values[S.heartbeatSeconds] ?? 5,
            shutdownGraceSeconds: values[S.shutdownGrace] ?? 30, minFreeSpaceBytes: minFree << 20,
            warm: values[S.warm] ?? [],
            residentIdleSeconds: values[S.residentIdleSeconds] ?? SchedulerConfiguration.defaultResidentIdleSeconds,
            affinityGraceSeconds: values[S.affinityGraceSeconds] ?? 1,
            inputLimits: inputLimits, inputRetentionSeconds: retentionHours * 3_600)
        if let after = values[S.preemptAfter] {
            guard after >= 0, after.isFinite else { throw SettingsError("--preempt-after takes seconds, 0 or more, not \(after)") }
            scheduler.preemptAfterSeconds = after
        }
        let live = values[S.livePreview] ?? "on"
        guard live == "on" || live == "off" else { throw SettingsError("--live-preview takes on or off, not \(live)") }
        scheduler.livePreview = live == "on"
        let liveMinutes = values[S.liveRetentionMinutes] ?? 10
        guard liveMinutes >= 0 else { throw SettingsError("--live-retention-minutes takes minutes, 0 or more") }
        scheduler.liveRetentionSeconds = liveMinutes * 60
        let halfLife = values[S.fairShareHalfLife] ?? 24
        guard halfLife > 0 else { throw SettingsError("--fair-share-half-life takes a positive number of hours") }
        scheduler.fairShareHalfLifeSeconds = halfLife * 3_600
        let overQuota = values[S.overQuota] ?? "wait"
        guard let rule = SchedulerConfiguration.OverQuota(rawValue: overQuota) else {
            throw SettingsError("--over-quota takes wait or refuse, not \(overQuota)")
        }
        scheduler.overQuota = rule

        let allowPrivate = values[S.webhookAllowPrivate] ?? false
        scheduler.webhookTargets = WebhookTargetRule(allowPrivate: allowPrivate)
        for url in values[S.webhook] ?? [] {
            if let problem = scheduler.webhookTargets.problem(url) { throw SettingsError("--webhook \(url): \(problem)") }
            scheduler.webhooks.append(WebhookSubscription(url: url))
        }
        var delays = WebhookRetryPolicy.standard.delays
        if let text = values[S.webhookRetryDelays] {
            guard let parsed = WebhookRetryPolicy.parseDelays(text) else {
                throw SettingsError("--webhook-retry-delays takes waits such as 5s,5m,30m,2h, not \(text)")
            }
            delays = parsed
        }
        let maxAgeHours = values[S.webhookMaxAgeHours] ?? 24
        webhookTimeoutSeconds = values[S.webhookTimeout] ?? 15
        guard maxAgeHours > 0, webhookTimeoutSeconds > 0 else {
            throw SettingsError("--webhook-max-age-hours and --webhook-timeout take positive numbers")
        }
        webhookPolicy = WebhookRetryPolicy(delays: delays, maxAge: maxAgeHours * 3_600)
        webhookSecretFile = values[S.webhookSecretFile] ?? data.root + "/webhook-secret"
        createsWebhookSecret = values[S.webhookSecretFile] == nil
        dropFolder = values[S.dropFolder] ?? true

        let storeName = values[S.store] ?? environment["SPOOL_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? "sqlite"
        if storeName == "sqlite" {
            store = .sqlite
        } else if storeName.hasPrefix("postgres://") || storeName.hasPrefix("postgresql://") {
            store = .postgres(storeName)
        } else {
            throw SettingsError("--store takes sqlite or a postgres:// URL, not \(storeName)")
        }
        self.scheduler = scheduler
    }
}
