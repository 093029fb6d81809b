import Crypto
import Foundation
import SpoolCore

/// One prompt of an evaluation set: a line of a JSON-lines file (`Samples/eval-prompts.jsonl`).
public struct EvalPrompt: Codable, Sendable, Hashable {
    /// A short name for the report; the line number when absent.
    public var id: String
    public var prompt: String
    public var negativePrompt: String?
    /// Frames to make; the run's `--frames` when absent.
    public var frames: Int?
    /// What the prompt tests (`motion`, `scene-change`, `text`, `people`, …).
    public var tags: [String]

    public init(id: String, prompt: String, negativePrompt: String? = nil, frames: Int? = nil, tags: [String] = []) {
        self.id = id
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.frames = frames
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey { case id, prompt, negativePrompt, frames, tags }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(String.self, forKey: .id) ?? ""
        prompt = try c.decode(String.self, forKey: .prompt)
        negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt)
        frames = try c.decodeIfPresent(Int.self, forKey: .frames)
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
    }

    /// The prompts of a JSON-lines file: one object a line, blank lines skipped.
    /// - Throws: ``EvalError`` naming each bad line, and a repeated id.
    public static func read(_ path: String) throws -> [EvalPrompt] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw EvalError("cannot read \(path)") }
        var prompts: [EvalPrompt] = []
        var problems: [String] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            do {
                var prompt = try JSONDecoder().decode(EvalPrompt.self, from: Data(trimmed.utf8))
                if prompt.id.isEmpty { prompt.id = "line-\(index + 1)" }
                if JobSpec.isBlank(prompt.prompt) { problems.append("line \(index + 1): prompt must not be empty") }
                if prompts.contains(where: { $0.id == prompt.id }) { problems.append("line \(index + 1): id \"\(prompt.id)\" is used twice") }
                prompts.append(prompt)
            } catch let error as DecodingError {
                problems.append("line \(index + 1): \(error.humanDescription)")
            } catch {
                problems.append("line \(index + 1): \(error)")
            }
        }
        if !problems.isEmpty { throw EvalError("\(path) has bad lines:\n  " + problems.joined(separator: "\n  ")) }
        if prompts.isEmpty { throw EvalError("\(path) holds no prompts (one JSON object a line, with at least \"prompt\")") }
        return prompts
    }
}

/// Why an evaluation cannot run.
public struct EvalError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One job of an evaluation: a prompt on a pipeline with a seed.
public struct EvalCase: Sendable, Hashable {
    public var prompt: EvalPrompt
    public var pipeline: String
    public var seed: UInt64
    public var frames: Int
    public var size: FrameSize?

    /// The job it submits. Its idempotency key is a digest of everything that makes the video
    /// (the prompt, the pipeline, the seed, the frames, the size), so a second run finds the
    /// first run's job instead of making the video again, and a changed prompt makes a new one.
    public var spec: JobSpec {
        JobSpec(
            prompt: prompt.prompt, negativePrompt: prompt.negativePrompt, frames: frames, width: size?.width, height: size?.height,
            seed: seed, pipeline: pipeline, idempotencyKey: idempotencyKey, labels: ["spool-eval": prompt.id])
    }

    public var idempotencyKey: String {
        let fields = [prompt.prompt, prompt.negativePrompt ?? "", pipeline, String(seed), String(frames), size?.description ?? ""]
        let digest = SHA256.hash(data: Data(fields.joined(separator: "\u{1F}").utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
        return "spool-eval-\(digest)"
    }
}

/// What an evaluation runs: every prompt on every pipeline with the same seeds.
public struct EvalPlan: Sendable {
    public var prompts: [EvalPrompt]
    public var pipelines: [String]
    public var seeds: [UInt64]
    public var frames: Int
    public var size: FrameSize?

    /// - Parameter seeds: how many seeds each prompt runs with: 1, 2, … N, the same on every pipeline.
    public init(prompts: [EvalPrompt], pipelines: [String], seeds: Int, frames: Int, size: FrameSize? = nil) {
        self.prompts = prompts
        self.pipelines = pipelines
        self.seeds = (1...max(1, seeds)).map(UInt64.init)
        self.frames = frames
        self.size = size
    }

    /// Prompt by prompt, then seed, then pipeline: the first results to come cover every
    /// pipeline, and a run cut short compares them on the same prompts.
    public var cases: [EvalCase] {
        prompts.flatMap { prompt in
            seeds.flatMap { seed in
                pipelines.map { EvalCase(prompt: prompt, pipeline: $0, seed: seed, frames: prompt.frames ?? frames, size: size) }
            }
        }
    }
}
