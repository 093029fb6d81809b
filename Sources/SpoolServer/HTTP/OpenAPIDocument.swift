import Foundation
import SpoolAPIModel
import SpoolCore

/// The OpenAPI 3.1 description of the API: `Sources/SpoolServer/openapi.json` in the repo,
/// served at `/openapi.json` with this deployment's pipelines written into the job spec's
/// schema, so that the document states exactly what the server accepts: which pipelines
/// exist, and for each the sizes it takes and the most frames it makes.
enum OpenAPIDocument {
    /// The document as the repo holds it.
    static let base: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url) else { return Data("{}".utf8) }
        return data
    }()

    /// A routed request's fields, the tier first: in a job, and in a video request.
    static let jobRoutingFields = ["tier", "deadlineSeconds", "maxGpuSeconds"]
    static let videoRoutingFields = ["tier", "deadline_seconds", "max_gpu_seconds"]

    /// The document a server with these pipelines serves.
    static func served(pipelines: PipelineCatalog, defaultPipeline: String) -> Data {
        guard var document = (try? JSONSerialization.jsonObject(with: base)) as? [String: Any],
              var components = document["components"] as? [String: Any],
              var schemas = components["schemas"] as? [String: Any],
              var spec = schemas["JobSpec"] as? [String: Any],
              var properties = spec["properties"] as? [String: Any],
              var pipeline = properties["pipeline"] as? [String: Any]
        else { return base }
        let auto = pipelines.routes == nil ? [] : [JobSpec.autoPipeline]
        pipeline["enum"] = (pipelines.names + auto).map { $0 as Any } + [NSNull()]
        pipeline["description"] = "A pipeline of this server: \(pipelines.names.joined(separator: ", ")); absent or null: \(defaultPipeline)"
            + (auto.isEmpty ? "" : "; auto: Spool chooses one by tier, deadlineSeconds and maxGpuSeconds (refused with 422, naming each candidate, when none fits)")
        properties["pipeline"] = pipeline
        spec["properties"] = properties
        var rules = spec["allOf"] as? [Any] ?? []
        let routed: [[String: Any]] = pipelines.routes.map { [autoRule($0, field: "pipeline", routingFields: jobRoutingFields, isForm: false)] } ?? []
        rules.append(["anyOf": pipelines.names.map { pipelineRule(pipelines[$0]!, isDefault: $0 == defaultPipeline) } + routed])
        spec["allOf"] = rules
        schemas["JobSpec"] = spec
        for (name, isForm) in [("VideoCreate", false), ("VideoCreateForm", true)] {
            guard var video = schemas[name] as? [String: Any] else { continue }
            narrowVideo(&video, pipelines: pipelines, defaultPipeline: defaultPipeline, isForm: isForm)
            schemas[name] = video
        }
        components["schemas"] = schemas
        document["components"] = components
        dropUntakenParts(&document, pipelines: pipelines)
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? base
    }

    /// The multipart form's file parts no pipeline of this server takes.
    private static func dropUntakenParts(_ document: inout [String: Any], pipelines: PipelineCatalog) {
        let definitions = pipelines.names.compactMap { pipelines[$0] }
        let taken = ["image": definitions.contains { $0.inputs.image }, "video": definitions.contains { $0.inputs.video }]
        guard var paths = document["paths"] as? [String: Any], var jobs = paths["/v1/jobs"] as? [String: Any],
              var post = jobs["post"] as? [String: Any], var body = post["requestBody"] as? [String: Any],
              var content = body["content"] as? [String: Any], var form = content["multipart/form-data"] as? [String: Any],
              var schema = form["schema"] as? [String: Any], var properties = schema["properties"] as? [String: Any],
              var encoding = form["encoding"] as? [String: Any] else { return }
        for (part, isTaken) in taken where !isTaken {
            properties[part] = nil
            encoding[part] = nil
        }
        schema["properties"] = properties
        form["schema"] = schema
        form["encoding"] = encoding
        content["multipart/form-data"] = form
        body["content"] = content
        post["requestBody"] = body
        jobs["post"] = post
        paths["/v1/jobs"] = jobs
        document["paths"] = paths
    }

    /// A video request of this server: `model` one of its pipelines, and each pipeline's
    /// sizes and lengths (see ``videoRule(_:isDefault:isForm:)``).
    private static func narrowVideo(_ video: inout [String: Any], pipelines: PipelineCatalog, defaultPipeline: String, isForm: Bool) {
        guard var properties = video["properties"] as? [String: Any], var model = properties["model"] as? [String: Any] else { return }
        let auto = pipelines.routes == nil ? [] : [JobSpec.autoPipeline]
        model["enum"] = (pipelines.names + auto).map { $0 as Any } + (isForm ? [] : [NSNull()])
        model["description"] = "A pipeline of this server: \(pipelines.names.joined(separator: ", ")); absent: \(defaultPipeline)"
            + (auto.isEmpty ? "" : "; auto: Spool chooses one by tier, deadline_seconds and max_gpu_seconds (refused with 422, naming each candidate, when none fits)")
        properties["model"] = model
        if isForm && !pipelines.names.contains(where: { pipelines[$0]!.inputs.image }) { properties["input_reference"] = nil }
        video["properties"] = properties
        let routed: [[String: Any]] = pipelines.routes.map {
            [autoRule($0, field: "model", routingFields: videoRoutingFields, isForm: isForm)]
        } ?? []
        video["allOf"] = [["anyOf": pipelines.names.map { videoRule(pipelines[$0]!, isDefault: $0 == defaultPipeline, isForm: isForm) } + routed]]
    }

    /// A routed request: `field` is `auto`, its tier one `routes` has candidates for (`standard`
    /// when absent). Whether a candidate fits is the router's to say, not the document's.
    private static func autoRule(_ routes: RouteTable, field: String, routingFields: [String], isForm: Bool) -> [String: Any] {
        let tiers = routes.routedTiers.map { $0.rawValue as Any }
        var rule: [String: Any] = [
            "required": [field],
            "properties": [field: ["const": JobSpec.autoPipeline], routingFields[0]: ["enum": tiers + (isForm ? [] : [NSNull()])]],
        ]
        if routes.candidates(.standard).isEmpty { rule["required"] = [field, routingFields[0]] }
        return rule
    }

    /// The routing fields, which only a routed request may give.
    private static func unrouted(_ fields: [String], isForm: Bool) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: fields.map { ($0, isForm ? false as Any : ["type": "null"] as Any) })
    }

    /// What a video of `definition` may ask for: its sizes when it lists them, at most its
    /// frames (by `num_frames`, else `seconds`, else the default 4 s), an image only if it
    /// takes one.
    private static func videoRule(_ definition: PipelineDefinition, isDefault: Bool, isForm: Bool) -> [String: Any] {
        let absent: [String: Any] = ["type": "null"]
        let named: [String: Any] = ["required": ["model"], "properties": ["model": ["const": definition.name]]]
        let unnamed: [String: Any] = ["properties": ["model": absent]]
        var properties: [String: Any] = [:]
        if let allowed = definition.sizes.allowed {
            properties["size"] = ["enum": allowed.map { "\($0.width)x\($0.height)" as Any } + (isForm ? [] : [NSNull()])]
        }
        if isForm && !definition.inputs.image { properties["input_reference"] = false }
        properties.merge(unrouted(videoRoutingFields, isForm: isForm)) { $1 }
        let fps = JobSpec.supportedFPS
        let seconds = (1...VideoRequest.maxSeconds).filter { $0 * fps <= definition.maxFrames }.map { String($0) as Any }
        let defaultFits = VideoRequest.defaultSeconds * fps <= definition.maxFrames
        var lengths: [Any] = [["required": ["num_frames"], "properties": ["num_frames": ["type": "integer", "maximum": definition.maxFrames]]]]
        if !seconds.isEmpty || defaultFits {
            var bySeconds: [String: Any] = ["properties": ["num_frames": absent, "seconds": ["enum": seconds + (defaultFits && !isForm ? [NSNull()] : [])]]]
            if !defaultFits { bySeconds["required"] = ["seconds"] }
            if seconds.isEmpty { bySeconds["properties"] = ["num_frames": absent, "seconds": absent] }
            lengths.append(bySeconds)
        }
        return [
            "anyOf": isDefault ? [named, unnamed] : [named],
            "properties": properties,
            "allOf": [["anyOf": lengths]],
        ]
    }

    /// The inputs a pipeline does not take, written as fields that must be absent (or null,
    /// or their default).
    private static func inputRules(_ inputs: PipelineDefinition.Inputs) -> [String: Any] {
        var rules: [String: Any] = [:]
        if !inputs.image { rules["image"] = ["type": "null"] }
        if !inputs.video {
            rules["video"] = ["type": "null"]
            rules["includeInput"] = ["enum": [false, NSNull()]]
        }
        if !inputs.prompts {
            rules["prompts"] = ["type": "null"]
            rules["transitionChunks"] = ["enum": [0, NSNull()]]
        }
        return rules
    }

    /// What a job of `definition` may ask for: its frames, its job options, its inputs, and its
    /// sizes when it lists them.
    private static func pipelineRule(_ definition: PipelineDefinition, isDefault: Bool) -> [String: Any] {
        let named: [String: Any] = ["required": ["pipeline"], "properties": ["pipeline": ["const": definition.name]]]
        let unnamed: [String: Any] = ["properties": ["pipeline": ["type": "null"]]]
        var rule: [String: Any] = [
            "anyOf": isDefault ? [named, unnamed] : [named],
            "properties": inputRules(definition.inputs).merging(unrouted(jobRoutingFields, isForm: false)) { $1 }.merging([
                "frames": ["maximum": definition.maxFrames],
                "options": definition.jobOptions.isEmpty
                    ? ["maxProperties": 0] : ["propertyNames": ["enum": definition.jobOptions.sorted()]],
            ]) { $1 },
        ]
        if let step = definition.sizes.multipleOf, var properties = rule["properties"] as? [String: Any] {
            // A number's multipleOf leaves null (the default size) alone.
            properties["width"] = ["multipleOf": step]
            properties["height"] = ["multipleOf": step]
            rule["properties"] = properties
        }
        if let allowed = definition.sizes.allowed {
            let sizes: [Any] = allowed.map { size in
                ["properties": ["width": ["const": size.width], "height": ["const": size.height]]] as [String: Any]
            }
            // Both absent (or null) means the pipeline's default size.
            let unsized: [String: Any] = ["properties": ["width": ["type": "null"], "height": ["type": "null"]]]
            rule["allOf"] = [["anyOf": sizes + [unsized]]]
        }
        return rule
    }
}
