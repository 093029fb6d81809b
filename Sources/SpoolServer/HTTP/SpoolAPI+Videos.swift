import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SpoolAPIModel
import SpoolCore
import SpoolMedia
import SpoolScheduler

/// The OpenAI-style videos API that vLLM-Omni serves Helios with, over Spool's jobs: what
/// clients already written against it (the official `openai` SDKs among them) need to use
/// Spool unchanged. A video is a job; `model` names the pipeline.
extension SpoolAPI {
    /// How often a client should poll a video that is not done (`openai-poll-after-ms`, which
    /// the `openai` SDKs' `create_and_poll` follows).
    static let pollAfterMilliseconds = 500

    /// `POST /v1/videos` as `multipart/form-data`: the fields as text parts, the image a
    /// video starts from as an `input_reference` file part.
    static let videoForm = MultipartForm.Layout(
        fields: Set(VideoRequest.fields), files: ["input_reference": .image], required: [], what: "a video form")

    func addVideoRoutes(to router: Router<Context>) {
        router.post("/v1/videos") { request, context in try await createVideo(request, context) }
        router.get("/v1/videos") { request, context in try await listVideos(request, context) }
        router.get("/v1/videos/:id") { _, context in try await showVideo(context) }
        router.delete("/v1/videos/:id") { _, context in try await deleteVideo(context) }
        router.get("/v1/videos/:id/content") { request, context in try await videoContent(request, context) }
    }

    func createVideo(_ request: Request, _ context: Context) async throws -> Response {
        var fields: [String: String]
        var bodyIssues: [ValidationIssue] = []
        var form: MultipartForm?
        if let boundary = MultipartForm.boundary(of: request.headers[.contentType]) {
            let read = try await MultipartForm.read(
                request.body, boundary: boundary, layout: Self.videoForm, library: host.operations.inputs,
                maxFieldBytes: configuration.maxBodyBytes)
            fields = read.fields.mapValues { String(decoding: $0, as: UTF8.self) }
            form = read
        } else {
            (fields, bodyIssues) = try Self.videoFields(json: try await smallBody(request))
        }
        let (asked, unreadable) = VideoRequest.read(fields: fields)
        var (spec, issues) = asked.jobSpec()
        issues = bodyIssues + unreadable + issues
        let files = form?.uploads["input_reference"].map {
            [JobOperations.File(kind: .image, field: "input_reference", name: $0.name, source: .upload($0))]
        } ?? []
        let result: EnqueueResult
        do {
            guard issues.isEmpty else {
                for file in files { file.abandon() }
                throw SpoolError.invalidSpec(issues)
            }
            result = try await operations(context).submit(spec, files: files)
        } catch SpoolError.invalidSpec(let problems) {
            let renamed = problems.map { VideoRequest.renamed($0, numFramesGiven: asked.numFrames != nil) }
            throw Self.invalidVideo(renamed)
        }
        return try video(result.job)
    }

    /// A JSON body's fields as text: strings as they are, numbers as written; a problem for
    /// each field that is neither.
    static func videoFields(json data: Data) throws -> ([String: String], [ValidationIssue]) {
        let object: [String: FieldValue]
        do {
            object = try JSONDecoder().decode([String: FieldValue].self, from: data)
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not a JSON object of strings and numbers: \((error as? DecodingError)?.humanDescription ?? "\(error)")")
        }
        var fields: [String: String] = [:]
        var issues: [ValidationIssue] = []
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            let wantsInteger = VideoRequest.integerFields.contains(key)
            switch value {
            case .null where VideoRequest.fields.contains(key): continue
            case .text(let text) where !wantsInteger: fields[key] = text
            case .integer(let text) where wantsInteger: fields[key] = text
            default:
                issues.append(ValidationIssue(
                    field: key,
                    reason: key == "input_reference" ? "send the image as a file: an input_reference part of a multipart/form-data request"
                        : !VideoRequest.fields.contains(key) ? "is not a field of a video; known: \(VideoRequest.fields.joined(separator: ", ")), and input_reference as a file"
                        : wantsInteger ? "must be a whole number" : "must be a string"))
            }
        }
        return (fields, issues)
    }

    /// A JSON value, as far as a video's fields care.
    enum FieldValue: Decodable {
        case null
        case text(String)
        /// A whole number, as written.
        case integer(String)
        /// A boolean, fraction, array or object: no field of a video takes one.
        case other

        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if value.decodeNil() {
                self = .null
            } else if let text = try? value.decode(String.self) {
                self = .text(text)
            } else if (try? value.decode(Bool.self)) != nil {
                self = .other
            } else if let whole = try? value.decode(Int64.self) {
                self = .integer(String(whole))
            } else if let whole = try? value.decode(UInt64.self) {
                self = .integer(String(whole))
            } else {
                self = .other
            }
        }
    }

    func listVideos(_ request: Request, _ context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        var limit = 20
        if let text = query["limit"] {
            guard let value = Int(String(text)), (1...100).contains(value) else {
                throw APIError(.badRequest, "invalid_query", "limit must be 1…100")
            }
            limit = value
        }
        let order = query["order"].map(String.init) ?? "desc"
        guard order == "asc" || order == "desc" else { throw APIError(.badRequest, "invalid_query", "order must be asc or desc") }
        var after: JobID?
        if let text = query["after"].map(String.init) {
            guard (try? await operations(context).job(JobID(text))) != nil else {
                throw APIError(.notFound, "video_not_found", "after names no video: no video with id \(text)")
            }
            after = JobID(text)
        }
        let page = try await operations(context).list(JobQuery(limit: limit, after: after, oldestFirst: order == "asc"))
        return try json(VideoList(data: page.jobs.map { VideoObject($0.job) }, hasMore: page.nextCursor != nil))
    }

    func showVideo(_ context: Context) async throws -> Response {
        try video(try await videoJob(context))
    }

    func deleteVideo(_ context: Context) async throws -> Response {
        let job = try await videoJob(context)
        let deleted: Job
        do {
            deleted = try await operations(context).delete(job.id)
        } catch SpoolError.jobNotFound {
            throw Self.videoNotFound(job.id.rawValue)
        } catch SpoolError.illegalTransition {
            throw APIError(
                .conflict, "video_in_progress",
                job.state.isFinal
                    ? "video \(job.id) is still stopping; delete it once its worker has stopped"
                    : "video \(job.id) is \(VideoObject(job).status); cancel it first (DELETE /v1/jobs/\(job.id)), then delete it")
        }
        return try json(VideoDeleted(id: deleted.id.rawValue))
    }

    func videoContent(_ request: Request, _ context: Context) async throws -> Response {
        let variant = request.uri.queryParameters["variant"].map(String.init) ?? "video"
        guard variant == "video" || variant == "thumbnail" else {
            throw APIError(.badRequest, "invalid_query", "variant must be video or thumbnail")
        }
        return try await file(request, context, of: try await videoJob(context), poster: variant == "thumbnail")
    }

    func videoJob(_ context: Context) async throws -> Job {
        let id = try jobID(context)
        do {
            return try await operations(context).job(id)
        } catch SpoolError.jobNotFound {
            throw Self.videoNotFound(id.rawValue)
        }
    }

    /// A refused request: the clients of this API show only the error's message, so it says
    /// every problem itself.
    static func invalidVideo(_ issues: [ValidationIssue]) -> APIError {
        let each = issues.map { "\($0.field) \($0.reason)" }.joined(separator: "; ")
        return APIError(.unprocessableContent, "invalid_video", "the video request is invalid: \(each)", issues: issues)
    }

    static func videoNotFound(_ id: String) -> APIError { APIError(.notFound, "video_not_found", "no video with id \(id)") }

    /// A video object, with how soon to poll it again while it is not done.
    func video(_ job: Job) throws -> Response {
        var headers: HTTPFields = [:]
        if !job.state.isFinal { headers[HTTPField.Name("openai-poll-after-ms")!] = String(Self.pollAfterMilliseconds) }
        return try json(VideoObject(job), headers: headers)
    }
}
