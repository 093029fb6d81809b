import ArgumentParser
import Foundation
import Logging
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolScheduler
import SpoolSQLite
import ServiceLifecycle
import SpoolServer

/// `spool serve`: runs the daemon until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Spool daemon.")

    @Option(help: "Data directory: the job store, work folders, videos and the drop folder. Default: $SPOOL_DATA or ~/.local/share/spool.")
    var data: String?

    @Option(help: "GPUs to use: auto (every GPU nvidia-smi finds), none, or indices such as 0,2.")
    var gpus: String = "auto"

    @Option(help: "CPU-only slots for pipelines that need no GPU. Default: 0 when GPUs are used, else 1.")
    var virtualSlots: Int?

    @Option(help: "Folder of pipeline definitions. Default: $SPOOL_PIPELINES, or the Pipelines folder shipped with Spool.")
    var pipelines: String?

    @Option(help: "Pipeline for jobs that name none.")
    var defaultPipeline: String = "synthetic"

    @Option(help: "This host's name in the store. Default: the machine's host name.")
    var host: String?

    @Option(help: "Video codec: h264, h265, av1 or h264_nvenc.")
    var codec: String = "h264"

    @Option(help: "Quality: CRF for the software encoders, CQ for NVENC. Default: the codec's own.")
    var crf: Int?

    @Option(help: "Encoder preset. Default: the codec's own (medium for x264).")
    var preset: String?

    @Option(help: "x264 rate-control look-ahead in frames: lower shortens the encode tail, higher compresses a little better.")
    var lookahead: Int = EncoderSettings.streamingLookahead

    @Option(help: "Attempts per job before it fails.")
    var maxAttempts: Int = 3

    @Option(help: "Per-attempt time limit in seconds for jobs that set none.")
    var timeLimit: Double?

    @Option(help: "Seconds a claim holds without renewal.")
    var leaseSeconds: Double = 30

    @Option(help: "Seconds between heartbeats.")
    var heartbeatSeconds: Double = 5

    @Option(help: "On SIGTERM, seconds running jobs may take to finish before they are requeued.")
    var shutdownGrace: Double = 30

    @Option(help: "Address the HTTP API listens on, HOST:PORT. Anything but loopback needs --token-file.")
    var listen: String = "127.0.0.1:\(HTTPServerConfiguration.defaultPort)"

    @Option(help: "File holding the bearer token HTTP clients must send. Default: $SPOOL_TOKEN_FILE; none on loopback.")
    var tokenFile: String?

    @Flag(help: "Do not watch <data>/inbox for job files.")
    var noDropFolder = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "spool")

        guard let selection = GPUInventory.Selection(parsing: gpus) else {
            throw ValidationError("--gpus takes auto, none, or GPU indices such as 0,2")
        }
        guard let codec = EncoderSettings.Codec(rawValue: codec) else {
            throw ValidationError("--codec takes \(EncoderSettings.Codec.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let detected = selection == .none ? [] : GPUInventory.detect()
        let virtual = virtualSlots ?? (selection == .none || detected.isEmpty ? 1 : 0)
        let slots = try GPUInventory.slots(selection: selection, virtualSlots: virtual, detected: detected)
        if selection == .auto && detected.isEmpty {
            logger.notice("no NVIDIA GPU found (nvidia-smi); running \(virtual) virtual slot(s) for CPU pipelines")
        }
        guard let address = HTTPServerConfiguration.parseListen(listen) else {
            throw ValidationError("--listen takes HOST:PORT, for example 127.0.0.1:8750")
        }
        var token: String?
        if let path = tokenFile ?? ProcessInfo.processInfo.environment["SPOOL_TOKEN_FILE"] {
            do {
                token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ValidationError("cannot read the token file \(path): \(error.localizedDescription)")
            }
            if token?.isEmpty != false { throw ValidationError("the token file \(path) is empty") }
        }
        let http = HTTPServerConfiguration(host: address.host, port: address.port, token: token)
        if let problem = http.problem { throw ValidationError(problem) }
        let dataDirectory = data.map(DataDirectory.init) ?? .default
        let catalog = try PipelineCatalog.load(folder: pipelines ?? PipelineLocator.defaultFolder())
        let configuration = SchedulerConfiguration(
            host: host ?? ProcessInfo.processInfo.hostName, data: dataDirectory, slots: slots,
            defaultPipeline: defaultPipeline, encoder: EncoderSettings(codec: codec, quality: crf, preset: preset, lookahead: codec == .h264 ? lookahead : nil),
            retry: RetryPolicy(maxAttempts: maxAttempts), defaultTimeLimitSeconds: timeLimit,
            leaseSeconds: leaseSeconds, heartbeatSeconds: heartbeatSeconds, shutdownGraceSeconds: shutdownGrace)
        try dataDirectory.create()
        let store = try SQLiteJobStore(path: dataDirectory.storePath)
        let host = try SpoolHost(store: store, pipelines: catalog, configuration: configuration, logger: logger)
        logger.info("spool \(Spool.version) serving", metadata: [
            "data": "\(dataDirectory.root)", "pipelines": "\(catalog.names.joined(separator: ","))",
            "slots": "\(slots.map(\.description).joined(separator: "; "))",
        ])
        let metrics = SpoolMetrics(host: host)
        let server = try SpoolHTTPServer.make(
            host: host, metrics: metrics, configuration: http, logger: logger,
            onListening: { port in logger.info("HTTP API on http://\(address.host):\(port)") })
        var doors: [any Service] = [metrics, server]
        if !noDropFolder { doors.append(DropFolderService(host: host, logger: logger)) }
        try await host.run(with: doors, logger: logger)
    }
}
