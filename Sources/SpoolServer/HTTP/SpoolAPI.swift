import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SpoolAPIModel
import SpoolCore
import SpoolMedia
import SpoolScheduler

/// The HTTP API's routes, over one ``SpoolHost``.
public struct SpoolAPI: Sendable {
    public typealias Context = SpoolRequestContext

    /// Every (method, path) this API serves, as the OpenAPI document lists them.
    public static let routes: [(method: String, path: String)] = [
        ("post", "/v1/jobs"), ("get", "/v1/jobs"), ("get", "/v1/jobs/{id}"), ("delete", "/v1/jobs/{id}"),
        ("get", "/v1/jobs/{id}/events"), ("get", "/v1/jobs/{id}/attempts"), ("get", "/v1/jobs/{id}/webhooks"),
        ("get", "/v1/jobs/{id}/video"), ("get", "/v1/jobs/{id}/poster"),
        ("get", "/v1/jobs/{id}/live.m3u8"), ("get", "/v1/jobs/{id}/live/{name}"),
        ("post", "/v1/videos"), ("get", "/v1/videos"), ("get", "/v1/videos/{id}"), ("delete", "/v1/videos/{id}"),
        ("get", "/v1/videos/{id}/content"),
        ("get", "/v1/gpus"), ("get", "/v1/usage"), ("get", "/metrics"), ("get", "/healthz"), ("get", "/openapi.json"),
    ]

    let host: SpoolHost
    let metrics: SpoolMetrics
    let configuration: HTTPServerConfiguration
    let fileIO = FileIO()

    public init(host: SpoolHost, metrics: SpoolMetrics, configuration: HTTPServerConfiguration) {
        self.host = host
        self.metrics = metrics
        self.configuration = configuration
    }

    /// A router with every route, behind the bearer-token check when a token is set.
    public func router() -> Router<Context> {
        let router = Router(context: Context.self)
        if let access = configuration.access {
            router.add(middleware: BearerTokenMiddleware(access: access, openPaths: Self.dashboardPaths.union(["/healthz"])))
        }
        router.add(middleware: MethodNotAllowedMiddleware(routes: Self.routes))
        router.add(middleware: StoreUnavailableMiddleware())
        let document = OpenAPIDocument.served(pipelines: host.pipelines, defaultPipeline: host.configuration.defaultPipeline)
        router.post("/v1/jobs") { request, context in try await submit(request, context) }
        router.get("/v1/jobs") { request, context in try await list(request, context) }
        router.get("/v1/jobs/:id") { _, context in try await show(context) }
        router.delete("/v1/jobs/:id") { _, context in try await cancel(context) }
        router.get("/v1/jobs/:id/events") { _, context in try await events(context) }
        router.get("/v1/jobs/:id/attempts") { _, context in try await attempts(context) }
        router.get("/v1/jobs/:id/webhooks") { _, context in try await webhooks(context) }
        router.get("/v1/jobs/:id/video") { request, context in try await file(request, context, of: try await job(context), poster: false) }
        router.get("/v1/jobs/:id/poster") { request, context in try await file(request, context, of: try await job(context), poster: true) }
        addVideoRoutes(to: router)
        addLiveRoutes(to: router)
        addDashboardRoutes(to: router)
        router.get("/v1/gpus") { _, context in try await gpus(context) }
        router.get("/v1/usage") { _, context in try await usage(context) }
        router.get("/metrics") { _, context in
            // Every tenant's figures: for admins (and the host's own token) only.
            guard context.principal.seesEveryone else {
                throw APIError(.forbidden, "admins_only", "/metrics shows every tenant's jobs; it takes an admin's token")
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: await metrics.render())))
        }
        router.get("/healthz") { _, _ in
            try json(["status": "ok", "version": Spool.version, "host": host.configuration.host])
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
        return router
    }

    // MARK: Jobs

    /// A JSON body, whole: at most `maxBodyBytes` (413 beyond).
    func smallBody(_ request: Request) async throws -> Data {
        do {
            return Data(try await request.body.collect(upTo: configuration.maxBodyBytes).readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the request body is larger than \(configuration.maxBodyBytes) bytes")
        }
    }

    func submit(_ request: Request, _ context: Context) async throws -> Response {
        var spec: JobSpec
        var files: [JobOperations.File] = []
        if let boundary = MultipartForm.boundary(of: request.headers[.contentType]) {
            (spec, files) = try await multipartJob(request, boundary: boundary)
        } else {
            spec = try Self.decodeSpec(try await smallBody(request))
        }
        // The header is checked whenever it is sent; it names the job only when the body does not.
        var headerIssues: [ValidationIssue] = []
        if let key = request.headers[HTTPField.Name("Idempotency-Key")!] {
            if let problem = JobSpec.idempotencyKeyProblem(key) {
                headerIssues.append(ValidationIssue(field: "Idempotency-Key", reason: problem))
            } else if spec.idempotencyKey == nil {
                spec.idempotencyKey = key
            }
        }
        let result: EnqueueResult
        do {
            // The submission validates the spec (and takes the files it brings) itself; only a
            // bad header needs the spec's problems listed beside it here.
            guard headerIssues.isEmpty else {
                for file in files { file.abandon() }
                throw SpoolError.invalidSpec(headerIssues + operations(context).validate(spec))
            }
            result = try await operations(context).submit(spec, files: files)
        } catch SpoolError.invalidSpec(let issues) {
            throw APIError(.unprocessableContent, "invalid_job", "the job is invalid: \(issues.count) problem(s)", issues: issues)
        }
        let position = try await operations(context).queuePosition(of: result.job.id)
        return json(
            JobResource(result.job, queuePosition: position), status: result.created ? .created : .ok,
            headers: [.location: "/v1/jobs/\(result.job.id)"])
    }

    static func decodeSpec(_ data: Data, part: String? = nil) throws -> JobSpec {
        let what = part.map { "the \($0) part" } ?? "the body"
        do {
            return try JSONDecoder().decode(JobSpec.self, from: data)
        } catch let error as DecodingError {
            throw APIError(.badRequest, "invalid_json", "\(what) is not a job: \(error.humanDescription)")
        } catch {
            throw APIError(.badRequest, "invalid_json", "\(what) is not JSON")
        }
    }

    /// A job as `multipart/form-data`: the job as JSON in a `job` part, its image or clip
    /// in an `image` or `video` part.
    static let jobForm = MultipartForm.Layout(
        fields: ["job"], files: ["image": .image, "video": .video], required: ["job"], what: "a job form",
        missingHint: ": send the job as JSON in a part named job")

    /// The job of a `multipart/form-data` submission, and the files it brings, streamed to
    /// the input library's staging area (the submission takes them in).
    func multipartJob(_ request: Request, boundary: String) async throws -> (JobSpec, [JobOperations.File]) {
        let form = try await MultipartForm.read(
            request.body, boundary: boundary, layout: Self.jobForm, library: host.operations.inputs, maxFieldBytes: configuration.maxBodyBytes)
        let spec: JobSpec
        do {
            spec = try Self.decodeSpec(form.fields["job"]!, part: "job")
        } catch {
            form.abandon()
            throw error
        }
        let files = form.uploads.sorted(by: { $0.key < $1.key }).map { name, upload in
            JobOperations.File(kind: upload.kind, field: upload.kind.rawValue, name: upload.name, source: .upload(upload))
        }
        return (spec, files)
    }

    func list(_ request: Request, _ context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        var states: Set<JobState>?
        if let text = query["state"].map(String.init) {
            var parsed = Set<JobState>()
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                guard let state = JobState(rawValue: String(part)) else {
                    throw APIError(.badRequest, "invalid_query", "unknown state \"\(part)\"; use \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                parsed.insert(state)
            }
            states = parsed
        }
        var limit = 50
        if let text = query["limit"] {
            guard let value = Int(String(text)), (1...1_000).contains(value) else {
                throw APIError(.badRequest, "invalid_query", "limit must be 1…1000")
            }
            limit = value
        }
        let page = try await operations(context).list(JobQuery(
            states: states, pipeline: query["pipeline"].map(String.init), limit: limit, cursor: query["cursor"].map(String.init)))
        return json(JobList(jobs: page.jobs.map { JobResource($0.job, queuePosition: $0.queuePosition) }, nextCursor: page.nextCursor))
    }

    func show(_ context: Context) async throws -> Response {
        let (job, position) = try await found { try await operations(context).jobWithPosition(try jobID(context)) }
        return json(JobResource(job, queuePosition: position))
    }

    func attempts(_ context: Context) async throws -> Response {
        let job = try await job(context)
        return try json(AttemptList(job: job.id, attempts: try await operations(context).attempts(of: job.id)))
    }

    func webhooks(_ context: Context) async throws -> Response {
        let job = try await job(context)
        return try json(WebhookDeliveryList(job: job.id, deliveries: try await operations(context).webhookDeliveries(of: job.id)))
    }

    func cancel(_ context: Context) async throws -> Response {
        let job = try await job(context)
        do {
            return json(JobResource(try await operations(context).cancel(job.id)))
        } catch SpoolError.illegalTransition(_, let from, _) {
            throw APIError(.conflict, "job_finished", "job \(job.id) is already \(from)")
        }
    }

    struct ChunkEvent: Encodable {
        var index: Int
        var progress: JobResource.Progress
    }

    struct EncodedEvent: Encodable {
        var framesEncoded: Int
    }

    /// The MP4 (or poster), whole or by a single byte range.
    /// A succeeded job's MP4 or poster, whole or one byte range.
    func file(_ request: Request, _ context: Context, of job: Job, poster: Bool) async throws -> Response {
        guard job.state == .succeeded, let path = poster ? job.posterPath : job.outputPath else {
            throw APIError(.conflict, "video_not_ready", "job \(job.id) is \(job.state); its \(poster ? "poster" : "video") exists once it has succeeded")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        guard size >= 0 else { throw APIError(.gone, "video_missing", "the file of job \(job.id) is no longer on this host") }
        let name = (job.spec.outputName ?? job.id.rawValue) + (poster ? ".png" : ".mp4")
        var headers: HTTPFields = [
            .contentType: poster ? "image/png" : "video/mp4", .acceptRanges: "bytes",
            .contentDisposition: "inline; filename=\"\(name)\"",
        ]
        let range: ByteRange?
        do {
            range = try ByteRange.parse(request.headers[.range], size: size)
        } catch {
            throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "the file is \(size) bytes", headers: [.contentRange: "bytes */\(size)"])
        }
        guard let range else {
            headers[.contentLength] = String(size)
            return Response(status: .ok, headers: headers, body: try await fileIO.loadFile(path: path, context: context))
        }
        headers[.contentRange] = "bytes \(range.first)-\(range.last)/\(size)"
        headers[.contentLength] = String(range.count)
        let body = try await fileIO.loadFile(path: path, range: range.first...range.last, context: context)
        return Response(status: .partialContent, headers: headers, body: body)
    }

    func gpus(_ context: Context) async throws -> Response {
        let held = host.statistics.snapshot.heldSeconds
        let operations = operations(context)
        var slots: [GPUList.Slot] = []
        for report in await host.dispatcher.slotReports {
            let slot = report.slot
            // A slot busy with another tenant's job is busy, and says no more.
            var job = report.job
            if let id = job, !operations.principal.seesEveryone, (try? await operations.job(id)) == nil { job = nil }
            slots.append(GPUList.Slot(
                name: slot.name, kind: slot.kind.rawValue, index: slot.index, uuid: slot.uuid, model: slot.model,
                memoryMiB: slot.memoryMiB, busy: report.job != nil, job: job?.rawValue,
                gpuSeconds: held[slot.name] ?? 0, state: report.state.rawValue, holds: report.holds, workerPid: report.workerPID,
                jobsServed: report.jobsServed, modelLoads: report.modelLoads, loadingSeconds: report.loadingSeconds,
                generatingSeconds: report.generatingSeconds, idleResidentSeconds: report.idleResidentSeconds))
        }
        let folders = DiskSpace(configuration: host.configuration).folders().map {
            GPUList.Folder(name: $0.name, path: $0.path, freeBytes: $0.freeBytes)
        }
        return try json(GPUList(
            host: host.configuration.host, slots: slots, folders: folders, waitingReason: await host.dispatcher.diskSpaceShortage))
    }

    /// Each tenant's use over the last day, against its limits (its own alone for a user).
    func usage(_ context: Context) async throws -> Response {
        let window = TenantLimits.quotaWindow
        let (since, rows, queuedInPool) = try await operations(context).usage(window: window)
        let tenants = rows.map { row, held in
            let limits = row.tenant.flatMap { configuration.tenants?.principal(named: $0)?.limits }
            return UsageReport.Tenant(
                tenant: row.tenant, gpuSeconds: row.gpuSeconds, queued: row.queued, running: row.running, encoding: row.encoding,
                limits: limits.map {
                    UsageReport.Limits(
                        maxQueued: $0.maxQueued, maxRunning: $0.maxRunning, gpuSecondsPerDay: $0.gpuSecondsPerDay,
                        maxGpuSecondsPerJob: $0.maxGpuSecondsPerJob)
                },
                waitingReason: held)
        }
        return try json(UsageReport(windowSeconds: window, since: since, tenants: tenants, queuedInPool: queuedInPool))
    }

    // MARK: Helpers

    /// The operations layer acting for whom the request acts for: the one place a tenant's
    /// view of the jobs is drawn.
    func operations(_ context: Context) -> JobOperations {
        host.operations.acting(for: context.principal)
    }

    func jobID(_ context: Context) throws -> JobID {
        JobID(try context.parameters.require("id"))
    }

    func job(_ context: Context) async throws -> Job {
        try await found { try await operations(context).job(try jobID(context)) }
    }

    /// What `read` found, or the API's 404 for a job that is not there.
    func found<T>(_ read: () async throws -> T) async throws -> T {
        do {
            return try await read()
        } catch SpoolError.jobNotFound(let id) {
            throw APIError.notFound(id.rawValue)
        }
    }

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        json(bytes: try JSONEncoder.spoolAPI.encode(value), status: status, headers: headers)
    }

    /// Jobs and pages of jobs, the responses polled hardest, are written directly (the same
    /// bytes `JSONEncoder.spoolAPI` writes, at a fraction of the cost).
    func json(_ resource: JobResource, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        json(bytes: resource.jsonBytes(), status: status, headers: headers)
    }

    func json(_ page: JobList) -> Response {
        json(bytes: page.jsonBytes(), status: .ok, headers: [:])
    }

    /// The `Content-Type` of every JSON response.
    static let jsonContentType = "application/json; charset=utf-8"

    private func json(bytes: some Sequence<UInt8>, status: HTTPResponse.Status, headers: HTTPFields) -> Response {
        var headers = headers
        headers[.contentType] = Self.jsonContentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func sse(_ event: String, _ resource: JobResource) -> String {
        sse(event, json: resource.jsonBytes())
    }

    static func sse(_ event: String, _ value: some Encodable) throws -> String {
        sse(event, json: try JSONEncoder.spoolAPI.encode(value))
    }

    private static func sse(_ event: String, json: some Collection<UInt8>) -> String {
        "event: \(event)\ndata: \(String(decoding: json, as: UTF8.self))\n\n"
    }
}
