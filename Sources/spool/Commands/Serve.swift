import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SpoolCore
import SpoolPostgres
import SpoolSQLite
import SpoolScheduler
import SpoolServer
import SpoolWebhooks

/// `spool serve`: runs the daemon until SIGTERM or SIGINT.
///
/// Its settings are declared once, in ``ServeSettings``: they are read here from the command
/// line and the `--config` file, and ``ServeConfiguration`` checks them and makes the host's
/// configuration. What is left here is wiring: the store, the host, its doors, and running them.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Spool daemon.",
        usage: "spool serve [--config FILE] [--SETTING VALUE ...]",
        discussion: "spool serve --help lists every setting.",
        // Its help lists the settings, which the argument parser does not know: see `help`.
        helpNames: [])

    /// What `spool serve --help` prints.
    static var help: String {
        """
        OVERVIEW: Run the Spool daemon until SIGTERM or SIGINT.

        USAGE: spool serve [--config FILE] [--SETTING VALUE ...]

        OPTIONS:
          --config FILE
                JSON file of settings keyed by their names (see Samples/spool.json). Settings given here
                win over it.
          --show-webhook-secret
                Print the webhook secret (creating it if there is none yet) and exit.
          -h, --help
                Show this help.

        SETTINGS (each also a key of the --config file):
        \(ServeSettings.helpText())

        """
    }

    @Option(help: "JSON file of settings keyed by their names (see Samples/spool.json). Settings given here win over it.")
    var config: String?

    @Flag(help: "Print the webhook secret (creating it if there is none yet) and exit.")
    var showWebhookSecret = false

    @Flag(help: .hidden)
    var settingsTable = false

    /// Every setting, as given: read by ``ServeSettings``, not by the argument parser.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settings: [String] = []

    func run() async throws {
        // First, before any task starts: see EventLoopExecutor for why.
        let onEventLoops = EventLoopExecutor.install(environment: ProcessInfo.processInfo.environment)
        if settings.contains("--help") || settings.contains("-h") {
            print(Self.help, terminator: "")
            return
        }
        if settingsTable {
            print(ServeSettings.markdownTable)
            return
        }
        let serve: ServeConfiguration
        do {
            let file = try config.map(ServeSettings.load(file:)) ?? SettingValues(settings: ServeSettings.all)
            serve = try ServeConfiguration(file.overridden(by: try ServeSettings.parse(arguments: settings)), defaultPipelines: PipelineLocator.defaultFolder)
        } catch {
            throw ValidationError("\(error)")
        }
        let level = serve.logLevel
        LoggingSystem.bootstrap { label in SpoolLogHandler(label: label, level: level) }
        let logger = Logger(label: "spool")
        logger.info("tasks run on \(onEventLoops ? "the HTTP server's event loops" : "Swift's default executor")")
        let configuration = serve.scheduler
        if serve.noGPUFound {
            logger.notice("no NVIDIA GPU found (nvidia-smi); running \(configuration.slots.count) virtual slot(s) for CPU pipelines")
        }
        let catalog = try PipelineCatalog.load(folder: serve.pipelines)
        for name in configuration.warm where catalog[name]?.resident != true {
            throw ValidationError("--warm names \(name), which is not a resident pipeline (known resident: \(catalog.definitions.values.filter(\.resident).map(\.name).sorted().joined(separator: ", ")))")
        }
        try configuration.data.create()
        let secret: WebhookSecret
        do {
            secret = try WebhookSecret.load(path: serve.webhookSecretFile, create: serve.createsWebhookSecret)
        } catch {
            throw ValidationError(error.description)
        }
        if showWebhookSecret {
            print(secret.text)
            return
        }
        let store: any JobStore
        var storeService: (any Service)?
        switch serve.store {
        case .sqlite:
            store = try SQLiteJobStore(path: configuration.data.storePath)
        case .postgres(let url):
            let address: PostgresStoreAddress
            do {
                address = try PostgresStoreAddress(url: url)
            } catch {
                throw ValidationError("--store: \(error)")
            }
            do {
                // A third of a lease: a heartbeat that cannot get a connection fails in time for
                // the host to fence its attempts before another host may take them.
                let wait = min(PostgresJobStore.defaultConnectionWait, max(0.5, configuration.leaseSeconds / 3))
                let postgres = try await PostgresJobStore.connect(address, connectionWait: wait, logger: logger)
                (store, storeService) = (postgres, postgres)
            } catch {
                logger.critical("\(error)")
                throw ExitCode(69)
            }
            logger.info("sharing the PostgreSQL queue \(address)")
        }
        let host = try SpoolHost(store: store, storeService: storeService, pipelines: catalog, configuration: configuration, logger: logger)
        logger.info("spool \(Spool.version) serving", metadata: [
            "data": "\(configuration.data.root)", "videos": "\(configuration.data.videos)", "pipelines": "\(catalog.names.joined(separator: ","))",
            "slots": "\(configuration.slots.map(\.description).joined(separator: "; "))",
        ])
        var webhooks = WebhookSenderConfiguration(
            host: configuration.host, secret: secret, policy: serve.webhookPolicy, targets: configuration.webhookTargets,
            timeoutSeconds: serve.webhookTimeoutSeconds)
        if let tenants = serve.http.tenants { webhooks.tenantSecret = { tenants.webhookSecret(of: $0) } }
        let sender = WebhookSender(store: store, events: host.events, configuration: webhooks, logger: logger)
        let metrics = SpoolMetrics(host: host, webhooks: sender.statistics)
        let address = serve.http
        let server = try SpoolHTTPServer.make(
            host: host, metrics: metrics, configuration: serve.http, logger: logger,
            onListening: { port in logger.info("HTTP API on http://\(address.host):\(port)") })
        // The sender stops after the dispatcher and the doors: jobs that end while the host
        // drains get their webhooks' first try.
        var doors: [any Service] = [sender, metrics, server]
        if serve.dropFolder { doors.append(DropFolderService(host: host, principal: serve.dropFolderPrincipal, logger: logger)) }
        if let tenants = serve.http.tenants {
            tenants.followPolicies { host.dispatcher.claimPolicy.setTenants($0) }
            doors.append(TenantReloader(tenants: tenants, logger: logger))
        }
        try await host.run(with: doors, logger: logger)
    }
}
