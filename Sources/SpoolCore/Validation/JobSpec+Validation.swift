import Foundation

extension JobSpec {
    /// The largest frame: 4K UHD, either way up.
    public static let maxFrame = FrameSize(width: 3_840, height: 2_160)
    public static let frameSideRange = 16...3_840
    public static let priorityRange = -100...100
    public static let maxTimeLimitSeconds = 86_400.0

    /// Every problem with this spec at once, each naming its field; empty when valid.
    ///
    /// - Parameters:
    ///   - pipelines: the pipelines this deployment knows.
    ///   - defaultPipeline: used when the spec names none.
    public func validate(pipelines: PipelineCatalog, defaultPipeline: String) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        func problem(_ field: String, _ reason: String) { issues.append(.init(field: field, reason: reason)) }

        // Lengths count Unicode code points, as JSON Schema's maxLength does (the API's
        // document states these rules, and a schema fuzzer holds the two to each other).
        if Self.isBlank(prompt) {
            problem("prompt", "must not be empty")
        } else if prompt.unicodeScalars.count > Self.maxPromptLength {
            problem("prompt", "is \(prompt.unicodeScalars.count) characters; at most \(Self.maxPromptLength) are allowed")
        }
        if let negativePrompt, negativePrompt.unicodeScalars.count > Self.maxPromptLength {
            problem("negativePrompt", "is \(negativePrompt.unicodeScalars.count) characters; at most \(Self.maxPromptLength) are allowed")
        }

        let pipelineName = pipeline ?? defaultPipeline
        let definition = pipelines[pipelineName]
        // A routed job is held to each candidate's rules as the router weighs it; here only to
        // the rules every pipeline shares (and its own, ``routingIssues(routes:)``).
        if !isRouted, definition == nil {
            let known = pipelines.names.joined(separator: ", ")
            problem("pipeline", "unknown pipeline \"\(pipelineName)\"; known: \(known.isEmpty ? "none" : known)")
        }

        if !(1...Self.maxFrames).contains(frames) {
            problem("frames", "is \(frames); must be 1…\(Self.maxFrames) (at most 60 s at 24 FPS)")
        } else if let definition, frames > definition.maxFrames {
            problem("frames", "is \(frames); pipeline \(definition.name) makes at most \(definition.maxFrames)")
        }
        if fps != Self.supportedFPS {
            problem("fps", "is \(fps); only \(Self.supportedFPS) is supported")
        }

        issues += sizeIssues(definition: definition)

        if !Self.priorityRange.contains(priority) {
            problem("priority", "is \(priority); must be \(Self.priorityRange.lowerBound)…\(Self.priorityRange.upperBound)")
        }
        if let outputName, let reason = Self.outputNameProblem(outputName) {
            problem("outputName", reason)
        }
        if let key = idempotencyKey, let reason = Self.idempotencyKeyProblem(key) {
            problem("idempotencyKey", reason)
        }
        if labels.count > Self.maxLabels {
            problem("labels", "has \(labels.count) entries; at most \(Self.maxLabels) are allowed")
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty || key.unicodeScalars.count > 64 { problem("labels.\(key)", "keys must be 1…64 characters") }
            if value.unicodeScalars.count > 256 { problem("labels.\(key)", "values must be at most 256 characters") }
        }
        issues += optionIssues(definition: definition)
        issues += routingIssues(routes: pipelines.routes)
        issues += inputIssues(definition: definition)
        issues += scheduleIssues(definition: definition)
        if let webhook, let reason = WebhookTarget.urlProblem(webhook) {
            problem("webhook", reason)
        }
        if let webhookEvents {
            if webhook == nil { problem("webhookEvents", "is given without a webhook to send them to") }
            if webhookEvents.isEmpty { problem("webhookEvents", "must name at least one event; leave it out for every final one") }
        }
        if let limit = timeLimitSeconds, !(limit > 0 && limit <= Self.maxTimeLimitSeconds) {
            problem("timeLimitSeconds", "is \(limit); must be more than 0 and at most \(Int(Self.maxTimeLimitSeconds))")
        }
        return issues
    }

    /// A routed job's own fields: a tier the route table has, positive limits; and no routing
    /// fields on a job that names its pipeline.
    private func routingIssues(routes: RouteTable?) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        func problem(_ field: String, _ reason: String) { issues.append(.init(field: field, reason: reason)) }
        guard isRouted else {
            for (field, given) in [("tier", tier != nil), ("deadlineSeconds", deadlineSeconds != nil), ("maxGpuSeconds", maxGpuSeconds != nil)] where given {
                problem(field, "applies only to a routed job (\"pipeline\": \"\(Self.autoPipeline)\"); this job names pipeline \(pipeline ?? "(the default)")")
            }
            return issues
        }
        if let routes {
            let tier = tier ?? .standard
            if routes.candidates(tier).isEmpty {
                let tiers = routes.routedTiers.map(\.rawValue).joined(separator: ", ")
                problem("tier", "is \(tier.rawValue); this host's routes.json has no candidates for it (it routes \(tiers))")
            }
        } else {
            problem("pipeline", "is \"\(Self.autoPipeline)\", but this host has no routes.json in its pipelines folder to choose by; name a pipeline")
        }
        if let deadline = deadlineSeconds, !(deadline > 0 && deadline <= Self.maxTimeLimitSeconds * 7) {
            problem("deadlineSeconds", "is \(deadline); must be more than 0 and at most \(Int(Self.maxTimeLimitSeconds * 7))")
        }
        if let budget = maxGpuSeconds, !(budget > 0 && budget <= Self.maxTimeLimitSeconds) {
            problem("maxGpuSeconds", "is \(budget); must be more than 0 and at most \(Int(Self.maxTimeLimitSeconds))")
        }
        return issues
    }

    private func optionIssues(definition: PipelineDefinition?) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        if options.count > Self.maxOptions {
            issues.append(.init(field: "options", reason: "has \(options.count) entries; at most \(Self.maxOptions) are allowed"))
        }
        for (key, value) in options.sorted(by: { $0.key < $1.key }) {
            if let definition, !definition.jobOptions.contains(key) {
                let taken = definition.jobOptions.isEmpty
                    ? "it takes none" : "it takes \(definition.jobOptions.joined(separator: ", "))"
                issues.append(.init(field: "options.\(key)", reason: "pipeline \(definition.name) has no job option \"\(key)\"; \(taken)"))
            } else if value.unicodeScalars.count > 256 {
                issues.append(.init(field: "options.\(key)", reason: "values must be at most 256 characters"))
            }
        }
        return issues
    }

    private func inputIssues(definition: PipelineDefinition?) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        func problem(_ field: String, _ reason: String) { issues.append(.init(field: field, reason: reason)) }
        if image != nil && video != nil { problem("video", "a job takes an image or a video to start from, not both") }
        for (field, input, expected) in [("image", image, JobInput.Kind.image), ("video", video, .video)] {
            guard let input else { continue }
            if !JobInput.isDigest(input.sha256) {
                problem("\(field).sha256", "must be 64 lower-case hex digits")
                continue
            }
            if let name = input.name, name.unicodeScalars.count > 128 {
                problem("\(field).name", "must be at most 128 characters")
            }
            if let definition {
                let taken = expected == .image ? definition.inputs.image : definition.inputs.video
                if !taken { problem(field, "pipeline \(definition.name) does not take \(expected == .image ? "an image" : "a video") (it takes \(definition.inputs.summary))") }
            }
            if let kind = input.kind, kind != expected {
                problem(field, kind == .image ? "is a single image; give it as image" : "is a video of \(input.frames ?? 0) frames; give it as video")
            }
            if expected == .video, let frames = input.frames, let definition, frames < definition.inputs.minVideoFrames {
                problem(field, "has \(frames) frames; pipeline \(definition.name) continues a clip of at least \(definition.inputs.minVideoFrames)")
            }
        }
        if includeInput && video == nil { problem("includeInput", "needs a video to include") }
        return issues
    }

    private func scheduleIssues(definition: PipelineDefinition?) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        func problem(_ field: String, _ reason: String) { issues.append(.init(field: field, reason: reason)) }
        if !(0...Self.maxTransitionChunks).contains(transitionChunks) {
            problem("transitionChunks", "is \(transitionChunks); must be 0…\(Self.maxTransitionChunks)")
        }
        guard let prompts else {
            if transitionChunks > 0 { problem("transitionChunks", "needs prompts: a schedule to blend") }
            return issues
        }
        if let definition, !definition.inputs.prompts {
            problem("prompts", "pipeline \(definition.name) does not take a prompt schedule (it takes \(definition.inputs.summary))")
        }
        if prompts.isEmpty || prompts.count > Self.maxScheduledPrompts {
            problem("prompts", "has \(prompts.count) entries; must be 1…\(Self.maxScheduledPrompts)")
            return issues
        }
        for (index, entry) in prompts.enumerated() {
            let field = "prompts[\(index)]"
            if Self.isBlank(entry.prompt) {
                problem("\(field).prompt", "must not be empty")
            } else if entry.prompt.unicodeScalars.count > Self.maxPromptLength {
                problem("\(field).prompt", "is \(entry.prompt.unicodeScalars.count) characters; at most \(Self.maxPromptLength) are allowed")
            }
            if index == 0 && entry.at != 0 {
                problem("\(field).at", "is \(entry.at); the first prompt starts at 0")
            } else if index > 0 && !(entry.at > prompts[index - 1].at) {
                problem("\(field).at", "is \(entry.at); each prompt starts after the one before it (\(prompts[index - 1].at))")
            } else if !(entry.at < durationSeconds) {
                problem("\(field).at", "is \(entry.at) s; the video is \(Self.seconds(durationSeconds)) s long")
            }
        }
        if issues.isEmpty, let definition, let schedule = chunkSchedule(definition.chunking) {
            let chunkSeconds = Double(definition.chunking.stride) / Double(fps)
            for index in schedule.indices.dropFirst() where schedule[index].chunk == schedule[index - 1].chunk {
                problem("prompts[\(index)].at", "falls in chunk \(schedule[index].chunk), as prompts[\(index - 1)] does; pipeline \(definition.name) changes prompt at most once a chunk (\(Self.seconds(chunkSeconds)) s)")
            }
        }
        return issues
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))" : String(format: "%.3f", value)
    }

    private func sizeIssues(definition: PipelineDefinition?) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        switch (width, height) {
        case (nil, nil):
            return []
        case (.some, nil):
            return [.init(field: "height", reason: "must be given together with width")]
        case (nil, .some):
            return [.init(field: "width", reason: "must be given together with height")]
        case (let w?, let h?):
            for (field, value) in [("width", w), ("height", h)] {
                if !Self.frameSideRange.contains(value) {
                    issues.append(.init(field: field, reason: "is \(value); must be \(Self.frameSideRange.lowerBound)…\(Self.frameSideRange.upperBound)"))
                } else if value % 2 != 0 {
                    issues.append(.init(field: field, reason: "is \(value); must be even (H.264 4:2:0 needs even dimensions)"))
                }
            }
            if issues.isEmpty, !FrameSize(width: w, height: h).fits(in: Self.maxFrame) {
                issues.append(.init(field: "width", reason: "\(w)x\(h) is larger than 3840x2160 (either way up)"))
            }
            if issues.isEmpty, let definition, let allowed = definition.sizes.allowed,
               !allowed.contains(FrameSize(width: w, height: h)) {
                let list = allowed.map(\.description).joined(separator: ", ")
                issues.append(.init(field: "width", reason: "\(w)x\(h) is not a size pipeline \(definition.name) supports; use one of \(list)"))
            }
            if issues.isEmpty, let definition, let off = definition.sizes.gridProblem(width: w, height: h, pipeline: definition.name) {
                issues.append(.init(field: off.field, reason: off.reason))
            }
            return issues
        }
    }

    /// The characters JSON Schema's `\\s` (ECMA-262 white space and line terminators)
    /// matches: a prompt of nothing else is empty. The document's pattern for `prompt` names
    /// the same set, so the server and the document agree on every string.
    public static let blankCharacters: Set<Unicode.Scalar> = Set(
        ["\u{09}", "\u{0A}", "\u{0B}", "\u{0C}", "\u{0D}", "\u{20}", "\u{A0}", "\u{1680}", "\u{2028}", "\u{2029}", "\u{202F}",
         "\u{205F}", "\u{3000}", "\u{FEFF}"] + (0x2000...0x200A).compactMap(Unicode.Scalar.init))

    /// Whether `text` holds nothing but ``blankCharacters``.
    public static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { blankCharacters.contains($0) }
    }

    public static let maxIdempotencyKeyLength = 200

    /// Why `key` cannot be an idempotency key (in a body or the `Idempotency-Key` header).
    public static func idempotencyKeyProblem(_ key: String) -> String? {
        if key.isEmpty || key.unicodeScalars.count > maxIdempotencyKeyLength { return "must be 1…\(maxIdempotencyKeyLength) characters" }
        // A control character has no place in a key, and the unit separator scopes a
        // tenant's keys in the store.
        if key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "must not contain control characters" }
        return nil
    }

    /// Why `name` cannot be an output file's base name, or nil when it can.
    public static func outputNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.count > maxOutputNameLength { return "must be at most \(maxOutputNameLength) characters" }
        if name.contains("/") || name.contains("\\") { return "must not contain a path separator (\"/\")" }
        if name.contains("..") { return "must not contain \"..\"" }
        if name.hasPrefix(".") { return "must not start with \".\"" }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_.".unicodeScalars.contains(scalar))
        }
        if !allowed { return "may use only letters, digits, \"-\", \"_\" and \".\"" }
        return nil
    }

    /// The spec with the pipeline, size and seed filled in, as it will be stored.
    /// Call only on a spec that validated.
    public func resolved(pipeline definition: PipelineDefinition, seed randomSeed: UInt64) -> JobSpec {
        var spec = self
        spec.pipeline = definition.name
        if spec.width == nil || spec.height == nil {
            spec.width = definition.sizes.default.width
            spec.height = definition.sizes.default.height
        }
        if spec.seed == nil { spec.seed = randomSeed }
        return spec
    }
}
