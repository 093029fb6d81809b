import Foundation
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolSynthetic
import SpoolTesting
import Testing

/// Issue 29, sound through the daemon: a pipeline that declares `"audio"` gets PCM with every
/// chunk (the synthetic worker's `--tone`), and its video comes out with an AAC track as long as
/// the frames. A worker whose sound is missing, short or undeclared fails its job alone, with a
/// message naming the chunk.
@Suite("Sound through the daemon", .enabled(if: MediaProbe.toolsAvailable, "ffmpeg/ffprobe are not installed"))
struct SoundTests {
    @Test func aPipelineWithSoundMakesAnMP4WithItsTrackAndAWorkerThatLiesFailsAlone() async throws {
        let dir = try TemporaryDirectory("sound-daemon")
        defer { dir.remove() }
        let pipelines = dir.file("pipelines")
        try FileManager.default.createDirectory(atPath: pipelines, withIntermediateDirectories: true)
        let stereo = AudioFormat(sampleRate: 48_000, channels: 2)
        for (name, flags, audio) in [
            ("tone", ["--tone"], stereo as AudioFormat?),
            ("short", ["--tone", "--fault", "short-audio:1"], stereo),
            ("mute", [], stereo),
            ("undeclared", ["--tone"], nil),
        ] {
            var pipeline = Fixtures.synthetic(name: name, arguments: flags, chunkFrames: 24)
            pipeline.audio = audio
            try JSONEncoder().encode(pipeline).write(to: URL(fileURLWithPath: pipelines + "/\(name).json"))
        }
        let daemon = try DaemonProcess.onOneSlot(dir, pipelines: pipelines, ["--max-attempts", "1", "--default-pipeline", "tone"])
        defer { daemon.stop() }
        let client = SpoolClient(server: URL(string: try await daemon.httpURL())!)

        var jobs: [String: String] = [:]
        for name in ["tone", "short", "mute", "undeclared"] {
            jobs[name] = try await client.submit(JobSpec(prompt: "a bell rings", frames: 60, seed: 3, pipeline: name)).job.id
        }
        try await until("every job ends") {
            var states: [JobState] = []
            for id in jobs.values { states.append(try await client.job(id).state) }
            return states.allSatisfy(\.isFinal)
        }

        // 60 frames of 24-frame chunks: three chunks, the last trimmed to 12 frames.
        let tone = try await client.job(try #require(jobs["tone"]))
        #expect(tone.state == .succeeded, "\(tone.error ?? "")")
        let path = try #require(tone.videoPath)
        #expect(try MediaProbe(path: path).frames == 60)
        let audio = try #require(try MediaProbe.audio(path: path), "the video has no sound")
        #expect(audio.codec == "aac" && audio.sampleRate == 48_000 && audio.channels == 2)
        let samples = try MediaProbe.decodeAudio(path: path)
        #expect(abs(audio.duration - 2.5) < 0.001, "\(audio.duration) s")
        #expect((120_000..<121_024).contains(samples.count), "\(samples.count) samples; 60 frames at 24 FPS are 120000")
        for chunk in 0..<3 {
            let from = chunk * 48_000 + 2_000, to = min(samples.count, (chunk + 1) * 48_000, 120_000) - 2_000
            let pitch = try #require(ToneAnalysis.frequency(samples[from..<to], sampleRate: 48_000))
            #expect(abs(pitch - SyntheticTone.frequency(chunk: chunk)) < 3, "chunk \(chunk): \(pitch) Hz")
        }

        // Each lie fails its own job, saying what was wrong; the good job above was not harmed.
        let expected = [
            "short": "chunk 1 audio file chunk-00001.pcm has 96000 bytes",
            "mute": "chunk 0 has no audio; the pipeline makes sound",
            "undeclared": "chunk 0 carries audio, but the pipeline declares no \"audio\"",
        ]
        for (name, text) in expected {
            let job = try await client.job(try #require(jobs[name]))
            #expect(job.state == .failed, "\(name) \(job.state)")
            #expect(job.error?.contains(text) == true, "\(name): \(job.error ?? "no error")")
        }
    }
}
