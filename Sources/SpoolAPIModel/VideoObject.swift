import Foundation
import SpoolCore

/// A job as the OpenAI-style videos API shows it (`/v1/videos`), the object vLLM-Omni and the
/// official `openai` clients speak: a status of four, a whole-number progress, Unix times.
public struct VideoObject: Codable, Sendable, Hashable {
    public struct Failure: Codable, Sendable, Hashable {
        public var code: String
        public var message: String
    }

    public var id: String
    public var object = "video"
    /// `queued`, `in_progress`, `completed` or `failed` (a cancelled job is `failed`, code `cancelled`).
    public var status: String
    /// 0–100: frames encoded of frames asked for.
    public var progress: Int
    public var createdAt: Int
    public var completedAt: Int?
    public var expiresAt: Int?
    /// The video's length in seconds, as a string (`"4"`; `"2.5"` for 60 frames).
    public var seconds: String
    /// `WxH`.
    public var size: String
    /// The pipeline.
    public var model: String
    public var prompt: String
    public var error: Failure?
    public var remixedFromVideoId: String?

    enum CodingKeys: String, CodingKey {
        case id, object, status, progress, seconds, size, model, prompt, error
        case createdAt = "created_at"
        case completedAt = "completed_at"
        case expiresAt = "expires_at"
        case remixedFromVideoId = "remixed_from_video_id"
    }

    public init(_ job: Job) {
        id = job.id.rawValue
        switch job.state {
        case .queued: status = "queued"
        case .running, .encoding: status = "in_progress"
        case .succeeded: status = "completed"
        case .failed, .cancelled: status = "failed"
        }
        progress = job.state == .succeeded ? 100 : max(0, min(99, Int(job.progress.percent.rounded(.down))))
        createdAt = Int(job.timings.submittedAt.timeIntervalSince1970)
        completedAt = job.state.isFinal ? job.timings.finishedAt.map { Int($0.timeIntervalSince1970) } : nil
        let duration = Double(job.spec.frames) / Double(job.spec.fps)
        seconds = duration == duration.rounded() ? String(Int(duration)) : String(format: "%g", duration)
        size = job.spec.size.map { "\($0.width)x\($0.height)" } ?? ""
        model = job.spec.pipeline ?? ""
        prompt = job.spec.prompt
        switch job.state {
        case .failed: error = Failure(code: "generation_failed", message: job.error ?? "the job failed")
        case .cancelled: error = Failure(code: "cancelled", message: job.error ?? "the job was cancelled")
        default: error = nil
        }
    }
}

/// `GET /v1/videos`: a page of videos.
public struct VideoList: Codable, Sendable, Hashable {
    public var object = "list"
    public var data: [VideoObject]
    public var firstId: String?
    public var lastId: String?
    public var hasMore: Bool

    enum CodingKeys: String, CodingKey {
        case object, data
        case firstId = "first_id"
        case lastId = "last_id"
        case hasMore = "has_more"
    }

    public init(data: [VideoObject], hasMore: Bool) {
        self.data = data
        firstId = data.first?.id
        lastId = data.last?.id
        self.hasMore = hasMore
    }
}

/// `DELETE /v1/videos/{id}`'s answer.
public struct VideoDeleted: Codable, Sendable, Hashable {
    public var id: String
    public var object = "video.deleted"
    public var deleted = true

    public init(id: String) { self.id = id }
}

/// What `POST /v1/videos` asks for, as JSON or as form fields, before it becomes a job.
public struct VideoRequest: Sendable, Hashable {
    public var prompt: String?
    public var model: String?
    /// A whole number of seconds, 1–60, as a string.
    public var seconds: String?
    /// `WxH`.
    public var size: String?
    // vLLM-Omni's extra fields.
    public var numFrames: Int?
    public var fps: Int?
    public var seed: UInt64?
    public var negativePrompt: String?
    // Routing, with `model: "auto"` (see `JobSpec.tier`).
    public var tier: String?
    public var deadlineSeconds: Int?
    public var maxGpuSeconds: Int?

    public static let defaultSeconds = 4
    public static let maxSeconds = JobSpec.maxFrames / JobSpec.supportedFPS
    /// The fields a request may have, as JSON keys and form fields.
    public static let fields = [
        "prompt", "model", "seconds", "size", "num_frames", "fps", "seed", "negative_prompt", "tier", "deadline_seconds", "max_gpu_seconds",
    ]
    /// The fields a JSON body gives as numbers; the rest are strings.
    public static let integerFields: Set<String> = ["num_frames", "fps", "seed", "deadline_seconds", "max_gpu_seconds"]

    public init(
        prompt: String? = nil, model: String? = nil, seconds: String? = nil, size: String? = nil, numFrames: Int? = nil,
        fps: Int? = nil, seed: UInt64? = nil, negativePrompt: String? = nil, tier: String? = nil, deadlineSeconds: Int? = nil,
        maxGpuSeconds: Int? = nil
    ) {
        self.tier = tier
        self.deadlineSeconds = deadlineSeconds
        self.maxGpuSeconds = maxGpuSeconds
        self.prompt = prompt
        self.model = model
        self.seconds = seconds
        self.size = size
        self.numFrames = numFrames
        self.fps = fps
        self.seed = seed
        self.negativePrompt = negativePrompt
    }

    /// Reads text fields (a form's, or a JSON object's values as text), each problem naming
    /// its field.
    public static func read(fields: [String: String]) -> (VideoRequest, [ValidationIssue]) {
        var issues: [ValidationIssue] = []
        for name in fields.keys.sorted() where !Self.fields.contains(name) {
            issues.append(ValidationIssue(field: name, reason: "is not a field of a video; known: \(Self.fields.joined(separator: ", ")), and input_reference as a file"))
        }
        func int<T: FixedWidthInteger>(_ name: String) -> T? {
            guard let text = fields[name] else { return nil }
            guard let value = T(text) else {
                issues.append(ValidationIssue(field: name, reason: "is \"\(text)\"; must be a whole number"))
                return nil
            }
            return value
        }
        let request = VideoRequest(
            prompt: fields["prompt"], model: fields["model"], seconds: fields["seconds"], size: fields["size"],
            numFrames: int("num_frames"), fps: int("fps"), seed: int("seed"), negativePrompt: fields["negative_prompt"],
            tier: fields["tier"], deadlineSeconds: int("deadline_seconds"), maxGpuSeconds: int("max_gpu_seconds"))
        return (request, issues)
    }

    /// The job this asks for, and each problem with it named by this API's field names.
    public func jobSpec() -> (JobSpec, [ValidationIssue]) {
        var issues: [ValidationIssue] = []
        if prompt == nil { issues.append(ValidationIssue(field: "prompt", reason: "is required")) }
        var frames = Self.defaultSeconds * JobSpec.supportedFPS
        if let seconds {
            if let whole = Int(seconds), (1...Self.maxSeconds).contains(whole), seconds.allSatisfy(\.isASCII) {
                frames = whole * JobSpec.supportedFPS
            } else {
                issues.append(ValidationIssue(field: "seconds", reason: "is \"\(seconds)\"; must be a whole number of seconds from 1 to \(Self.maxSeconds), as a string"))
            }
        }
        // vLLM-Omni's rule: num_frames, when given, wins over seconds.
        if let numFrames { frames = numFrames }
        var width: Int?
        var height: Int?
        if let size {
            let parts = size.split(separator: "x", omittingEmptySubsequences: false)
            if parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), parts.allSatisfy({ $0.allSatisfy(\.isASCII) }) {
                width = w
                height = h
            } else {
                issues.append(ValidationIssue(field: "size", reason: "is \"\(size)\"; must be WIDTHxHEIGHT, for example 640x384"))
            }
        }
        var routeTier: RouteTier?
        if let tier {
            routeTier = RouteTier(rawValue: tier)
            if routeTier == nil {
                issues.append(ValidationIssue(field: "tier", reason: "is \"\(tier)\"; must be \(RouteTier.names), with model auto"))
            }
        }
        let spec = JobSpec(
            prompt: prompt ?? "", negativePrompt: negativePrompt, frames: frames, fps: fps ?? JobSpec.supportedFPS,
            width: width, height: height, seed: seed, pipeline: model, tier: routeTier, deadlineSeconds: deadlineSeconds.map(Double.init),
            maxGpuSeconds: maxGpuSeconds.map(Double.init))
        return (spec, issues)
    }

    /// A job's problem under the name this API gives its field.
    public static func renamed(_ issue: ValidationIssue, numFramesGiven: Bool) -> ValidationIssue {
        var issue = issue
        let field = issue.field.split(separator: ".").first.map(String.init) ?? issue.field
        switch field {
        case "frames": issue.field = numFramesGiven ? "num_frames" : "seconds"
        case "width", "height": issue.field = "size"
        case "pipeline": issue.field = "model"
        case "negativePrompt": issue.field = "negative_prompt"
        case "deadlineSeconds": issue.field = "deadline_seconds"
        case "maxGpuSeconds": issue.field = "max_gpu_seconds"
        case "image": issue.field = "input_reference"
        default: break
        }
        return issue
    }
}
