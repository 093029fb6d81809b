import Foundation

/// Every setting of `spool serve`, declared once: the command line, the config file
/// (`--config`), `spool serve --help` and the README's settings table all read this list.
/// ``ServeConfiguration`` turns the values given into the host's configuration.
///
/// A new setting is one `static let` here, one line in ``all``, and its use in
/// ``ServeConfiguration``.
public enum ServeSettings {
    // MARK: Where things are

    public static let data = SettingKey<String>(
        "data", placeholder: "DIR", default: "`$SPOOL_DATA` or `~/.local/share/spool`",
        help: "Data directory: the job store (spool.sqlite), work folders, videos and the drop folder.", isPath: true)
    public static let store = SettingKey<String>(
        "store", placeholder: "sqlite|postgres://…", default: "`$SPOOL_STORE` or `sqlite`",
        help: "Job store: SQLite in the data directory (one machine), or a PostgreSQL queue shared by many hosts.")
    public static let videos = SettingKey<String>(
        "videos", placeholder: "DIR", default: "`<data>/videos`",
        help: "Finished MP4s and posters; hosts sharing a PostgreSQL queue share this folder.", isPath: true)
    public static let work = SettingKey<String>(
        "work", placeholder: "DIR", default: "`<data>/work`",
        help: "Workers' raw chunks; best on a file system apart from the videos.", isPath: true)
    public static let inputs = SettingKey<String>(
        "inputs", placeholder: "DIR", default: "`<videos>/.inputs` with `--videos`, else `<data>/inputs`",
        help: "Jobs' images and clips, kept by SHA-256; hosts sharing a queue must share it.", isPath: true)
    public static let checkpoints = SettingKey<String>(
        "checkpoints", placeholder: "DIR", default: "`<videos>/.checkpoints`",
        help: "Running jobs' checkpoints (worker state after a chunk), kept durably; hosts sharing a queue must share it.", isPath: true)
    public static let inputRetentionHours = SettingKey<Double>(
        "input-retention-hours", placeholder: "HOURS", default: "24",
        help: "How long an input no job refers to any more is kept after its last use.")
    public static let maxImageMiB = SettingKey<Int>(
        "max-image-mib", placeholder: "MIB", default: "50", help: "The largest image a job may start from; a larger upload is refused as it arrives.")
    public static let maxVideoMiB = SettingKey<Int>(
        "max-video-mib", placeholder: "MIB", default: "512", help: "The largest clip a job may continue; a larger upload is refused as it arrives.")
    public static let minFreeSpace = SettingKey<Int>(
        "min-free-space", placeholder: "MIB", default: "512",
        help: "Kept free in the work and videos folders beyond what a job may need; a job that would leave less waits (its waitingReason says so).")

    // MARK: Slots and pipelines

    public static let gpus = SettingKey<String>(
        "gpus", placeholder: "auto|none|0,2", default: "`auto`", help: "GPUs to use: every GPU nvidia-smi finds, none, or these indices.")
    public static let virtualSlots = SettingKey<Int>(
        "virtual-slots", placeholder: "N", default: "1 if no GPU, else 0", help: "CPU slots for pipelines that need no GPU; CUDA pipelines never run on them.")
    public static let pipelines = SettingKey<String>(
        "pipelines", placeholder: "DIR", default: "`$SPOOL_PIPELINES` or the shipped `Pipelines/`", help: "Folder of pipeline definitions.", isPath: true)
    public static let defaultPipeline = SettingKey<String>(
        "default-pipeline", placeholder: "NAME", default: "`synthetic`", help: "Pipeline for jobs that name none.")
    public static let host = SettingKey<String>(
        "host", placeholder: "NAME", default: "the machine's host name", help: "This host's name in the store.")
    public static let warm = SettingKey<[String]>(
        "warm", placeholder: "PIPELINE", default: "none", help: "A resident pipeline to load at start, before any job asks; repeat it to warm more slots.")
    public static let residentIdleSeconds = SettingKey<Double>(
        "resident-idle-seconds", placeholder: "SECONDS", default: "900", help: "A resident worker with no job this long is stopped, freeing its GPU.")
    public static let affinityGraceSeconds = SettingKey<Double>(
        "affinity-grace-seconds", placeholder: "SECONDS", default: "1",
        help: "Shared queue: how long a host that would have to load a model leaves a new job of its pipeline to a host holding that model ready.")

    // MARK: Encoding

    public static let codec = SettingKey<String>(
        "codec", placeholder: "NAME", default: "`h264`", help: "Video codec: h264 (libx264), h265 (libx265), av1 (libsvtav1) or h264_nvenc (NVIDIA GPUs).")
    public static let crf = SettingKey<Int>(
        "crf", placeholder: "N", default: "the codec's own (23 for x264)", help: "Quality: CRF for the software encoders, CQ for NVENC.")
    public static let preset = SettingKey<String>(
        "preset", placeholder: "NAME", default: "the codec's own (`medium` for x264)", help: "Encoder preset.")
    public static let lookahead = SettingKey<Int>(
        "lookahead", placeholder: "FRAMES", default: "20",
        help: "x264 rate-control look-ahead: lower shortens a streamed job's encode tail, higher compresses a little better.")
    public static let encoderPriority = SettingKey<String>(
        "encoder-priority", placeholder: "idle|0-19", default: "`idle`",
        help: "CPU priority of encoding: idle (Linux SCHED_IDLE) runs it only on CPU time nothing else wants; a nice value gives it a share of a busy CPU instead.")
    public static let rawBacklog = SettingKey<Int>(
        "raw-backlog", placeholder: "MIB", default: "1024",
        help: "Raw frames a job's worker may write ahead of its encoder; past it the worker is paused (SIGSTOP) until the encoder is halfway back. The slot stays held meanwhile and counts as GPU time; 0 turns the bound off.")
    public static let livePreview = SettingKey<String>(
        "live-preview", placeholder: "on|off", default: "`on`", help: "Also write each job as a live HLS playlist while it encodes (/v1/jobs/ID/live.m3u8).")
    public static let liveRetentionMinutes = SettingKey<Double>(
        "live-retention-minutes", placeholder: "MINUTES", default: "10", help: "How long a job's live preview is kept after the job ends.")

    // MARK: Attempts, leases and shutdown

    public static let maxAttempts = SettingKey<Int>(
        "max-attempts", placeholder: "N", default: "3", help: "Attempts per job before it fails; retries back off exponentially (2 s, 4 s, … up to 120 s).")
    public static let timeLimit = SettingKey<Double>(
        "time-limit", placeholder: "SECONDS", default: "none", help: "Per-attempt time limit for jobs that set none; a job that runs out is not retried.")
    public static let leaseSeconds = SettingKey<Double>(
        "lease-seconds", placeholder: "SECONDS", default: "30", help: "How long a claim holds without renewal before another host may take the job.")
    public static let heartbeatSeconds = SettingKey<Double>(
        "heartbeat-seconds", placeholder: "SECONDS", default: "5", help: "How often leases are renewed and abandoned jobs looked for.")
    public static let shutdownGrace = SettingKey<Double>(
        "shutdown-grace", placeholder: "SECONDS", default: "30", help: "On SIGTERM, how long running jobs may take to finish before they are requeued.")

    public static let preemptAfter = SettingKey<Double>(
        "preempt-after", placeholder: "SECONDS", default: "off",
        help: "A queued job that has waited this long while no slot could run it takes the slot of the lowest-priority running job whose pipeline keeps checkpoints, at that job's next checkpoint; the preempted job goes back to the queue with its checkpoint.")

    // MARK: HTTP and the drop folder

    public static let listen = SettingKey<String>(
        "listen", placeholder: "HOST:PORT", default: "`127.0.0.1:8750`", help: "Address of the HTTP API; anything but loopback needs --token-file.")
    public static let tokenFile = SettingKey<String>(
        "token-file", placeholder: "PATH", default: "`$SPOOL_TOKEN_FILE`; none on loopback",
        help: "File holding the bearer token HTTP clients must send (every endpoint but /healthz).", isPath: true)
    public static let tokens = SettingKey<String>(
        "tokens", placeholder: "PATH", default: "none",
        help: "Tenants file: named tenants, each with its tokens (SHA-256 hashes), role (admin or user) and limits; `spool tokens add` writes it, SIGHUP reads it again. A user sees only its own jobs.", isPath: true)
    public static let fairShareHalfLife = SettingKey<Double>(
        "fair-share-half-life", placeholder: "HOURS", default: "24",
        help: "Fair share between tenants (--tokens): within a priority, the next job is the tenant's whose GPU-seconds, decayed with this half-life, divided by its weight are lowest.")
    public static let overQuota = SettingKey<String>(
        "over-quota", placeholder: "wait|refuse", default: "`wait`",
        help: "A tenant past its gpuSecondsPerDay: its jobs wait until room comes back (their waitingReason says when), or its submissions are refused (HTTP 429 with Retry-After).")
    public static let dropFolderTenant = SettingKey<String>(
        "drop-folder-tenant", placeholder: "NAME", default: "none (the host's own)",
        help: "The tenant (of --tokens) whose jobs the drop folder submits.")
    public static let requestHeadTimeout = SettingKey<Double>(
        "request-head-timeout", placeholder: "SECONDS", default: "60", help: "How long an HTTP connection may take to send a whole request head before it is closed.")
    public static let keepAliveTimeout = SettingKey<Double>(
        "keep-alive-timeout", placeholder: "SECONDS", default: "75", help: "How long an HTTP connection may sit idle between requests. Event streams are never timed out.")
    public static let eventKeepAlive = SettingKey<Double>(
        "event-keep-alive", placeholder: "SECONDS", default: "15",
        help: "How often an event stream with nothing to say writes a comment line, which finds clients that have gone.")
    public static let dropFolder = SettingKey<Bool>(
        "drop-folder", default: "on", help: "Watch <data>/inbox for job files (--no-drop-folder: do not).", inverted: true)
    public static let logLevel = SettingKey<String>(
        "log-level", placeholder: "LEVEL", default: "`info`", help: "Log level: trace, debug, info, notice, warning or error.")

    // MARK: Webhooks

    public static let webhook = SettingKey<[String]>(
        "webhook", placeholder: "URL", default: "none",
        help: "A URL told of every job submitted here when it succeeds, fails or is cancelled (Standard Webhooks, signed); repeat it for more.")
    public static let webhookSecretFile = SettingKey<String>(
        "webhook-secret-file", placeholder: "PATH", default: "`<data>/webhook-secret`",
        help: "The whsec_ secret webhooks are signed with; created on first start when not given (--show-webhook-secret prints it).", isPath: true)
    public static let webhookAllowPrivate = SettingKey<Bool>(
        "webhook-allow-private", default: "off", help: "Let webhooks target loopback, link-local and private addresses (refused by default, so jobs cannot reach into this network).")
    public static let webhookRetryDelays = SettingKey<String>(
        "webhook-retry-delays", placeholder: "LIST", default: "`5s,5m,30m,2h,5h,10h`",
        help: "Waits between a webhook's retries, comma-separated, each in s, m or h; the last repeats.")
    public static let webhookMaxAgeHours = SettingKey<Double>(
        "webhook-max-age-hours", placeholder: "HOURS", default: "24", help: "How long after its event a webhook is retried before it is abandoned.")
    public static let webhookTimeout = SettingKey<Double>(
        "webhook-timeout", placeholder: "SECONDS", default: "15", help: "How long a webhook's receiver has to answer each try.")

    /// Every setting, in the order `--help` and the README list them.
    public static let all: [Setting] = [
        data.setting, store.setting, videos.setting, work.setting, inputs.setting, checkpoints.setting, inputRetentionHours.setting,
        maxImageMiB.setting, maxVideoMiB.setting, minFreeSpace.setting,
        gpus.setting, virtualSlots.setting, pipelines.setting, defaultPipeline.setting, host.setting, warm.setting,
        residentIdleSeconds.setting, affinityGraceSeconds.setting,
        codec.setting, crf.setting, preset.setting, lookahead.setting, encoderPriority.setting, rawBacklog.setting,
        livePreview.setting, liveRetentionMinutes.setting,
        maxAttempts.setting, timeLimit.setting, leaseSeconds.setting, heartbeatSeconds.setting, shutdownGrace.setting,
        preemptAfter.setting, listen.setting, tokenFile.setting, tokens.setting, fairShareHalfLife.setting, overQuota.setting, dropFolderTenant.setting, requestHeadTimeout.setting, keepAliveTimeout.setting, eventKeepAlive.setting, dropFolder.setting, logLevel.setting,
        webhook.setting, webhookSecretFile.setting, webhookAllowPrivate.setting, webhookRetryDelays.setting,
        webhookMaxAgeHours.setting, webhookTimeout.setting,
    ]

    /// The settings as `spool serve --help` lists them: each on a line of its own, its help
    /// and default below it, wrapped to `width` columns.
    public static func helpText(width: Int = 100) -> String {
        all.map { setting in
            "  " + setting.usage + "\n" + wrap(setting.help + " Default: " + plain(setting.defaultText) + ".", indent: 8, width: width)
        }.joined(separator: "\n")
    }

    static func wrap(_ text: String, indent: Int, width: Int) -> String {
        let margin = String(repeating: " ", count: indent)
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, indent + line.count + 1 + word.count > width {
                lines.append(margin + line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(margin + line) }
        return lines.joined(separator: "\n")
    }

    /// The settings as the README's table: `spool serve --settings-table` prints it.
    public static var markdownTable: String {
        var lines = ["| setting | default | meaning |", "| --- | --- | --- |"]
        for setting in all {
            let usage = setting.usage.replacingOccurrences(of: "|", with: "\\|")
            lines.append("| `\(usage)` | \(setting.defaultText) | \(setting.help.replacingOccurrences(of: "|", with: "\\|")) |")
        }
        return lines.joined(separator: "\n")
    }

    private static func plain(_ text: String) -> String {
        text.replacingOccurrences(of: "`", with: "")
    }

    /// Reads a config file's settings.
    public static func load(file path: String) throws(SettingsError) -> SettingValues {
        try SettingValues.load(file: path, settings: all)
    }

    /// Reads the command line's settings.
    public static func parse(arguments: [String]) throws(SettingsError) -> SettingValues {
        try SettingValues.parse(arguments: arguments, settings: all)
    }
}
