import Foundation
import SpoolCore
import SpoolMedia

/// The one way jobs enter the queue, whatever the door (CLI, HTTP, drop folder):
/// validate, resolve defaults, note why it cannot run here if so, enqueue durably.
public struct JobSubmitter: Sendable {
    public let store: any JobStore
    public let pipelines: PipelineCatalog
    public let configuration: SchedulerConfiguration
    /// Where jobs' images and clips are kept.
    public let inputs: InputLibrary
    private let clock: any WallClock
    private let onSubmit: @Sendable () -> Void
    /// What routed jobs are judged by, kept between submissions.
    private let history = RoutingHistory()

    /// - Parameter onSubmit: called after a new job is stored, to wake the dispatcher.
    public init(
        store: any JobStore, pipelines: PipelineCatalog, configuration: SchedulerConfiguration, inputs: InputLibrary? = nil,
        clock: any WallClock = SystemWallClock(), onSubmit: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.pipelines = pipelines
        self.configuration = configuration
        self.inputs = inputs ?? InputLibrary(folder: configuration.data.inputs, limits: configuration.inputLimits)
        self.clock = clock
        self.onSubmit = onSubmit
    }

    /// The spec's problems, each naming its field; empty when it can be submitted.
    public func validate(_ spec: JobSpec) -> [ValidationIssue] {
        checked(spec).issues
    }

    /// The spec with its inputs described, and every problem with it: the one set of rules
    /// both ``validate(_:)`` and a submission apply.
    func checked(_ spec: JobSpec) -> (spec: JobSpec, issues: [ValidationIssue]) {
        let (described, missing) = describeInputs(spec)
        let issues = missing + described.validate(pipelines: pipelines, defaultPipeline: configuration.defaultPipeline)
            + webhookIssues(described)
        return (described, issues)
    }

    /// A webhook this host will not send to: loopback or a private address, unless allowed.
    func webhookIssues(_ spec: JobSpec) -> [ValidationIssue] {
        // A URL of the wrong form is the spec's own problem (JobSpec.validate); this host's rule adds the rest.
        guard let url = spec.webhook, WebhookTarget.urlProblem(url) == nil, let refusal = configuration.webhookTargets.problem(url)
        else { return [] }
        return [ValidationIssue(field: "webhook", reason: refusal)]
    }

    /// The spec with each input it names by hash described as this host's library holds it
    /// (the library's description wins over the client's), and an issue for each it lacks.
    public func describeInputs(_ spec: JobSpec) -> (JobSpec, [ValidationIssue]) {
        var spec = spec
        var issues: [ValidationIssue] = []
        for field in ["image", "video"] {
            guard let given = field == "image" ? spec.image : spec.video, JobInput.isDigest(given.sha256) else { continue }
            guard var known = inputs.describe(given.sha256) else {
                issues.append(ValidationIssue(
                    field: field, reason: "no input with sha256 \(given.sha256) is kept here; upload the file as the \"\(field)\" part of a multipart/form-data request"))
                continue
            }
            known.name = given.name ?? known.name
            if field == "image" { spec.image = known } else { spec.video = known }
        }
        return (spec, issues)
    }

    /// Stores a job, or returns the existing one for a repeated idempotency key.
    /// - Throws: ``SpoolError/invalidSpec(_:)`` listing every problem.
    public func submit(_ spec: JobSpec, tenant: String? = nil) async throws -> EnqueueResult {
        try await submitAll([spec], tenant: tenant)[0]
    }

    /// Submits many specs in one durable commit; all are validated first, and one
    /// invalid spec rejects the batch.
    public func submitAll(_ specs: [JobSpec], tenant: String? = nil) async throws -> [EnqueueResult] {
        let routed = try await route(specs)
        var requests = try routed.map { spec, routing in
            var request = try request(for: spec)
            request.tenant = tenant
            request.routing = routing
            return request
        }
        if requests.contains(where: { $0.waitingReason != nil }) {
            // This host cannot run them; another live host sharing the store may.
            let others = await otherLiveHosts()
            for index in requests.indices where requests[index].waitingReason != nil {
                if let definition = requests[index].spec.pipeline.flatMap({ pipelines[$0] }) {
                    requests[index].waitingReason = unavailable(definition, among: others)
                }
            }
        }
        let results = try await store.enqueueAll(requests)
        if results.contains(where: \.created) { onSubmit() }
        return results
    }

    /// Why no live host can run `pipeline`: this host's reason, unless one of `others` (the
    /// other live hosts) can run it.
    private func unavailable(_ pipeline: PipelineDefinition, among others: [HostRecord]) -> String? {
        guard let reason = waitingReason(for: pipeline) else { return nil }
        return others.contains { $0.canRun(pipeline) } ? nil : reason
    }

    /// The live hosts sharing the store, this one apart.
    private func otherLiveHosts() async -> [HostRecord] {
        let now = clock.now()
        return ((try? await store.hosts()) ?? [])
            .filter { $0.name != configuration.host && $0.isLive(at: now, window: configuration.leaseSeconds) }
    }

    /// Each spec with its pipeline chosen if it is routed (`"pipeline": "auto"`), and how;
    /// a spec that names its pipeline passes unchanged.
    /// - Throws: ``SpoolError/invalidSpec(_:)``: a routed spec's own problems, or, when no
    ///   candidate of its tier fits, each candidate and why.
    public func route(_ specs: [JobSpec]) async throws -> [(JobSpec, JobRouting?)] {
        guard specs.contains(where: \.isRouted) else { return specs.map { ($0, nil) } }
        // A routed spec's own problems first; a spec naming its pipeline is checked once, by
        // its request.
        let described = try specs.map { spec in
            guard spec.isRouted else { return spec }
            let (described, issues) = checked(spec)
            guard issues.isEmpty else { throw SpoolError.invalidSpec(issues) }
            return described
        }
        // Validation refuses a routed spec on a host without routes.json.
        guard let table = pipelines.routes else { return specs.map { ($0, nil) } }
        let now = clock.now()
        let history = try await history.current(from: store, window: table.historyWindowSeconds, now: now)
        // The registry is read only when a candidate cannot run here (one round trip fewer).
        let tiers = Set(described.filter(\.isRouted).map { $0.tier ?? .standard })
        let needsHosts = tiers.flatMap(table.candidates).contains { pipelines[$0].map { waitingReason(for: $0) != nil } ?? false }
        let others = needsHosts ? await otherLiveHosts() : []
        let router = PipelineRouter(table: table, pipelines: pipelines, defaultPipeline: configuration.defaultPipeline)
        return try described.map { spec in
            guard spec.isRouted else { return (spec, nil) }
            let decision = router.route(spec, history: history, now: now) { unavailable($0, among: others) }
            switch decision {
            case .routed(let spec, let routing): return (spec, routing)
            case .refused(let issues): throw SpoolError.invalidSpec(issues)
            }
        }
    }

    /// The enqueue request for a spec: validated, resolved, with its waiting reason.
    public func request(for spec: JobSpec) throws -> EnqueueRequest {
        let (spec, issues) = checked(spec)
        guard issues.isEmpty else { throw SpoolError.invalidSpec(issues) }
        for input in spec.inputs { inputs.touch(input.sha256) }
        let definition = pipelines[spec.pipeline ?? configuration.defaultPipeline]!
        let resolved = spec.resolved(pipeline: definition, seed: UInt64.random(in: 0...UInt64(Int64.max)))
        return EnqueueRequest(
            spec: resolved, maxAttempts: configuration.retry.maxAttempts, submittedAt: clock.now(),
            waitingReason: waitingReason(for: definition),
            chunksTotal: definition.chunking.chunkCount(forFrames: resolved.frames),
            webhooks: resolved.webhookSubscriptions + configuration.webhooks)
    }

    /// Why a pipeline cannot run on this host, when it cannot.
    public func waitingReason(for pipeline: PipelineDefinition) -> String? {
        if pipeline.requiresCUDA && !configuration.slots.contains(where: { $0.kind == .cuda }) {
            let slots = configuration.slots.isEmpty ? "no slots" : configuration.slots.map(\.name).joined(separator: ", ")
            return "pipeline \(pipeline.name) needs a CUDA GPU and host \(configuration.host) has none (\(slots)); waiting for a host with one"
        }
        if !pipeline.requiresCUDA && configuration.slots.isEmpty {
            return "host \(configuration.host) has no slots (--gpus none and no --virtual-slots); waiting for a host with one"
        }
        return nil
    }
}
