import Foundation
import SpoolAPIModel
import SpoolCore
import Testing

@Suite("Videos API mapping")
struct VideoRequestTests {
    @Test func secondsSizeAndModelBecomeTheJobAndNumFramesWins() {
        let (spec, issues) = VideoRequest(prompt: "a fox", model: "helios-distilled", seconds: "8", size: "640x384").jobSpec()
        #expect(issues.isEmpty)
        #expect(spec.frames == 192 && spec.width == 640 && spec.height == 384 && spec.pipeline == "helios-distilled")
        #expect(VideoRequest(prompt: "a fox").jobSpec().0.frames == 96, "4 s when absent")
        #expect(VideoRequest(prompt: "a fox", seconds: "8", numFrames: 33).jobSpec().0.frames == 33)
        let (read, unreadable) = VideoRequest.read(fields: ["prompt": "x", "seed": "12", "fps": "24", "negative_prompt": "blur"])
        #expect(unreadable.isEmpty && read.seed == 12 && read.fps == 24 && read.negativePrompt == "blur")
    }

    @Test func everyProblemNamesTheFieldTheClientSent() {
        for bad in ["0", "61", "4.5", "four", " 4", "٤"] {
            #expect(VideoRequest(prompt: "p", seconds: bad).jobSpec().1.map(\.field) == ["seconds"], "\(bad)")
        }
        for bad in ["big", "640x", "x384", "640X384", "640x384x2"] {
            #expect(VideoRequest(prompt: "p", size: bad).jobSpec().1.map(\.field) == ["size"], "\(bad)")
        }
        #expect(VideoRequest().jobSpec().1.map(\.field) == ["prompt"])
        let (_, unreadable) = VideoRequest.read(fields: ["prompt": "x", "seed": "-1", "loop": "yes"])
        #expect(unreadable.map(\.field) == ["loop", "seed"])
        #expect(VideoRequest.renamed(ValidationIssue(field: "width", reason: "r"), numFramesGiven: false).field == "size")
        #expect(VideoRequest.renamed(ValidationIssue(field: "frames", reason: "r"), numFramesGiven: true).field == "num_frames")
        #expect(VideoRequest.renamed(ValidationIssue(field: "pipeline", reason: "r"), numFramesGiven: false).field == "model")
    }

    @Test func aJobShowsAsAVideo() {
        var job = Job(id: JobID("j1"), spec: JobSpec(prompt: "p", frames: 60, width: 64, height: 48, pipeline: "synthetic"), maxAttempts: 1,
                      timings: JobTimings(submittedAt: Date(timeIntervalSince1970: 100)), progress: JobProgress(framesTotal: 60))
        #expect(VideoObject(job).status == "queued" && VideoObject(job).seconds == "2.5" && VideoObject(job).size == "64x48")
        job.state = .encoding
        job.progress.framesDone = 59
        #expect(VideoObject(job).status == "in_progress" && VideoObject(job).progress == 98)
        job.state = .cancelled
        job.timings.finishedAt = Date(timeIntervalSince1970: 160.7)
        #expect(VideoObject(job).status == "failed" && VideoObject(job).error?.code == "cancelled" && VideoObject(job).completedAt == 160)
        job.state = .succeeded
        #expect(VideoObject(job).progress == 100 && VideoObject(job).error == nil)
    }
}
