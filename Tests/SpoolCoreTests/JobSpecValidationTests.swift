import Foundation
import SpoolCore
import SpoolTesting
import Testing

@Suite("Job spec validation")
struct JobSpecValidationTests {
    func issues(_ spec: JobSpec) -> [ValidationIssue] {
        spec.validate(pipelines: Fixtures.catalog, defaultPipeline: "synthetic")
    }

    func fields(_ spec: JobSpec) -> [String] { issues(spec).map(\.field) }

    @Test func aMinimalSpecIsValid() {
        #expect(issues(JobSpec(prompt: "a cat", frames: 24)).isEmpty)
        #expect(issues(JobSpec(prompt: "a cat", frames: 1_440, width: 1280, height: 720)).isEmpty)
    }

    @Test("frame counts outside 1…1,440 are rejected", arguments: [0, -1, 1_441, 100_000])
    func frameBounds(frames: Int) {
        let found = issues(JobSpec(prompt: "a cat", frames: frames))
        #expect(found.map(\.field) == ["frames"])
        #expect(found[0].reason.contains("1…1440"))
    }

    @Test("frame counts at the bounds are accepted", arguments: [1, 1_440])
    func frameBoundsAccepted(frames: Int) {
        #expect(issues(JobSpec(prompt: "a cat", frames: frames)).isEmpty)
    }

    @Test func oddDimensionsAreRejected() {
        let found = issues(JobSpec(prompt: "a cat", frames: 24, width: 641, height: 385))
        #expect(found.map(\.field) == ["width", "height"])
        #expect(found.allSatisfy { $0.reason.contains("even") })
    }

    @Test func oversizedDimensionsAreRejected() {
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, width: 7_680, height: 4_320)) == ["width", "height"])
        let area = issues(JobSpec(prompt: "a cat", frames: 24, width: 3_840, height: 3_840))
        #expect(area.map(\.field) == ["width"])
        #expect(area[0].reason.contains("larger than 3840x2160"))
        #expect(issues(JobSpec(prompt: "a cat", frames: 24, width: 2_160, height: 3_840)).isEmpty, "portrait 4K")
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, width: 2_880, height: 2_880)) == ["width"], "4K's area, but not its box")
    }

    @Test func widthWithoutHeightIsRejected() {
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, width: 640)) == ["height"])
    }

    @Test func sizesOutsideThePipelinesListAreRejected() {
        let found = issues(JobSpec(prompt: "a cat", frames: 24, width: 1280, height: 720, pipeline: "helios"))
        #expect(found.map(\.field) == ["width"])
        #expect(found[0].reason.contains("640x384"))
    }

    @Test func unknownPipelinesAreRejectedNamingTheKnownOnes() {
        let found = issues(JobSpec(prompt: "a cat", frames: 24, pipeline: "sora"))
        #expect(found.map(\.field) == ["pipeline"])
        #expect(found[0].reason.contains("\"sora\""))
        #expect(found[0].reason.contains("helios, synthetic"))
    }

    @Test func longAndEmptyPromptsAreRejected() {
        #expect(fields(JobSpec(prompt: String(repeating: "a", count: 4_001), frames: 24)) == ["prompt"])
        #expect(fields(JobSpec(prompt: "  \n", frames: 24)) == ["prompt"])
        #expect(fields(JobSpec(prompt: "\u{FEFF}\u{3000}\u{2009}", frames: 24)) == ["prompt"], "blank as JSON Schema's \\s says")
        #expect(fields(JobSpec(prompt: "\u{85}", frames: 24)).isEmpty, "NEL is not \\s")
        // Lengths count code points: an "é" written as e and a combining accent is two.
        #expect(fields(JobSpec(prompt: String(repeating: "e\u{301}", count: 2_001), frames: 24)) == ["prompt"])
        #expect(fields(JobSpec(prompt: "ok", negativePrompt: String(repeating: "b", count: 4_001), frames: 24))
            == ["negativePrompt"])
    }

    @Test("unsafe output names are rejected", arguments: ["a/b", "../x", "..", ".hidden", "x..y", "", "a\\b", "naïve", "a b"])
    func outputNames(name: String) {
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, outputName: name)) == ["outputName"])
    }

    @Test("safe output names are accepted", arguments: ["fox", "fox-2.final", "A_1"])
    func safeOutputNames(name: String) {
        #expect(issues(JobSpec(prompt: "a cat", frames: 24, outputName: name)).isEmpty)
    }

    @Test func otherFields() {
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, fps: 30)) == ["fps"])
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, priority: 101)) == ["priority"])
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, idempotencyKey: "")) == ["idempotencyKey"])
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, timeLimitSeconds: 0)) == ["timeLimitSeconds"])
        #expect(fields(JobSpec(prompt: "a cat", frames: 24, labels: ["": "x"])) == ["labels."])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let spec = JobSpec(
            prompt: "", frames: 1_441, fps: 25, width: 641, height: 384, pipeline: "nope", priority: 500,
            outputName: "../etc/passwd")
        #expect(Set(fields(spec)) == ["prompt", "pipeline", "frames", "fps", "width", "priority", "outputName"])
    }

    @Test func resolvingFillsPipelineSizeAndSeed() {
        let spec = JobSpec(prompt: "a cat", frames: 24).resolved(pipeline: Fixtures.syntheticPipeline, seed: 99)
        #expect(spec.pipeline == "synthetic")
        #expect(spec.size == FrameSize(width: 640, height: 384))
        #expect(spec.seed == 99)
        let kept = JobSpec(prompt: "a cat", frames: 24, width: 64, height: 48, seed: 1)
            .resolved(pipeline: Fixtures.syntheticPipeline, seed: 99)
        #expect(kept.size == FrameSize(width: 64, height: 48))
        #expect(kept.seed == 1)
    }

    @Test func decodingAHandWrittenJobFileFillsDefaults() throws {
        let json = #"{"prompt": "a fox", "frames": 96}"#
        let spec = try JSONDecoder().decode(JobSpec.self, from: Data(json.utf8))
        #expect(spec.fps == 24)
        #expect(spec.priority == 0)
        #expect(spec.labels.isEmpty)
        #expect(spec.pipeline == nil)
    }
}

@Suite("Conditioning inputs in a spec")
struct ConditioningSpecTests {
    static let digest = String(repeating: "0f", count: 32)

    func issues(_ spec: JobSpec) -> [ValidationIssue] {
        spec.validate(pipelines: Fixtures.catalog, defaultPipeline: "synthetic")
    }

    func image(frames: Int = 1, kind: JobInput.Kind = .image) -> JobInput {
        JobInput(sha256: Self.digest, kind: kind, width: 640, height: 480, frames: frames, bytes: 1_000, codec: "png")
    }

    @Test func anImageAClipOrAScheduleIsValidForAPipelineThatTakesIt() {
        #expect(issues(JobSpec(prompt: "a fox", frames: 48, image: image())).isEmpty)
        #expect(issues(JobSpec(prompt: "a fox", frames: 48, video: image(frames: 40, kind: .video), includeInput: true)).isEmpty)
        let schedule = [ScheduledPrompt(at: 0, prompt: "a fox"), ScheduledPrompt(at: 1.5, prompt: "a river")]
        #expect(issues(JobSpec(prompt: "a fox", frames: 96, prompts: schedule, transitionChunks: 1)).isEmpty)
    }

    @Test func aPipelineThatTakesNoInputsRefusesEachNamingItsField() {
        let spec = JobSpec(
            prompt: "a fox", frames: 48, width: 640, height: 384, pipeline: "helios", image: image(),
            prompts: [ScheduledPrompt(at: 0, prompt: "a fox")])
        let found = issues(spec)
        #expect(found.map(\.field) == ["image", "prompts"])
        #expect(found[0].reason == "pipeline helios does not take an image (it takes none)")
    }

    @Test func inputsAreCheckedAgainstTheirKindAndThePipelinesNeeds() {
        #expect(issues(JobSpec(prompt: "a", frames: 48, image: image(), video: image(frames: 40, kind: .video))).map(\.field) == ["video"])
        #expect(issues(JobSpec(prompt: "a", frames: 48, image: image(frames: 40, kind: .video))).first?.reason
            == "is a video of 40 frames; give it as video")
        let short = issues(JobSpec(prompt: "a", frames: 48, video: image(frames: 10, kind: .video)))
        #expect(short.map(\.reason) == ["has 10 frames; pipeline synthetic continues a clip of at least 33"])
        #expect(issues(JobSpec(prompt: "a", frames: 48, image: JobInput(sha256: "ABC"))).map(\.field) == ["image.sha256"])
        #expect(issues(JobSpec(prompt: "a", frames: 48, includeInput: true)).map(\.field) == ["includeInput"])
    }

    @Test("schedules that cannot be followed are refused, naming the entry", arguments: [
        ([ScheduledPrompt(at: 1, prompt: "a")], "prompts[0].at", "is 1.0; the first prompt starts at 0"),
        ([ScheduledPrompt(at: 0, prompt: "a"), ScheduledPrompt(at: 0, prompt: "b")], "prompts[1].at", "each prompt starts after the one before it"),
        ([ScheduledPrompt(at: 0, prompt: "a"), ScheduledPrompt(at: 4, prompt: "b")], "prompts[1].at", "is 4.0 s; the video is 4 s long"),
        ([ScheduledPrompt(at: 0, prompt: "a"), ScheduledPrompt(at: 0.5, prompt: "b")], "prompts[1].at",
         "falls in chunk 0, as prompts[0] does; pipeline synthetic changes prompt at most once a chunk (1.375 s)"),
        ([ScheduledPrompt(at: 0, prompt: " ")], "prompts[0].prompt", "must not be empty"),
    ])
    func badSchedules(schedule: [ScheduledPrompt], field: String, reason: String) {
        let found = issues(JobSpec(prompt: "a", frames: 96, prompts: schedule))
        #expect(found.map(\.field) == [field])
        #expect(found.first?.reason.contains(reason) == true, "\(found)")
    }

    @Test func aScheduleMapsSecondsOntoTheChunksThatBringThoseFrames() {
        let spec = JobSpec(prompt: "a", frames: 240, prompts: [
            ScheduledPrompt(at: 0, prompt: "a"), ScheduledPrompt(at: 1.375, prompt: "b"), ScheduledPrompt(at: 4, prompt: "c"),
        ])
        // 33-frame chunks: frame 33 (1.375 s) opens chunk 1; frame 96 (4 s) is in chunk 2 (66…98).
        #expect(spec.chunkSchedule(.init(frames: 33))!.map(\.chunk) == [0, 1, 2])
        // 66-frame chunks overlapping by 33: chunk 0 brings 0…65, each later one 33 new frames.
        #expect(spec.chunkSchedule(.init(frames: 66, overlap: 33))!.map(\.chunk) == [0, 0, 1])
        #expect(JobSpec(prompt: "a", frames: 24).chunkSchedule(.init(frames: 33)) == nil)
    }

    @Test func transitionChunksNeedASchedule() {
        #expect(issues(JobSpec(prompt: "a", frames: 48, transitionChunks: 2)).map(\.field) == ["transitionChunks"])
        #expect(issues(JobSpec(prompt: "a", frames: 48, prompts: [ScheduledPrompt(at: 0, prompt: "a")], transitionChunks: 17))
            .map(\.field) == ["transitionChunks"])
    }
}
