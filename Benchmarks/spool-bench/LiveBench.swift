import ArgumentParser
import Foundation
import SpoolCore
import SpoolMedia
import SpoolSynthetic
import SpoolTesting

/// What the live preview (HLS) costs, against today's encoder in the same run: encode time and
/// MP4 size with and without it (keyframes at segment starts change the stream), and how long
/// after a chunk arrives at a real-time pace its segment is listed in the playlist.
struct LiveBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "live", abstract: "The live preview's cost.")

    @Option(help: "Frames per video.") var frames = 1_440
    @Option(help: "Frame size.") var size = "640x384"
    @Option(help: "Rounds, each one encode without and one with the preview.") var rounds = 3
    @Option(help: "Chunks fed at a real-time pace (24 FPS) for the segment latency; 0 skips it.") var realtimeChunks = 12
    @Option(help: "Scratch folder.") var folder = FileManager.default.currentDirectoryPath + "/.build"

    func run() async throws {
        guard let size = FrameSize(parsing: size) else { throw ValidationError("bad size \(size)") }
        let dir = "\(folder)/spool-bench-live"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let chunks = try ChunkFiles.write(plan: ChunkPlan(chunkFrames: 33, overlap: 0, trim: .helios), frames: frames, size: size, into: dir)
        let settings = EncoderSettings(codec: .h264, lookahead: EncoderSettings.streamingLookahead)
        print("== Live preview: \(frames) frames at \(size), libx264 \(settings.preset), \(rounds) rounds, without and with, alternating ==")
        var without: [Double] = [], with: [Double] = []
        var plainBytes = 0, liveBytes = 0
        for round in 0..<rounds {
            for live in [false, true] {
                let preview = live ? LivePreview(folder: "\(dir)/live-\(round)", segmentFrames: 33) : nil
                let start = ContinuousClock.now
                let outcome = try await encode(chunks, dir: dir, size: size, settings: settings, live: preview, name: "r\(round)-\(live)")
                let seconds = elapsed(since: start)
                if live { with.append(seconds); liveBytes = outcome.video.bytes } else { without.append(seconds); plainBytes = outcome.video.bytes }
            }
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        report("encode wall time, median", median(with), unit: "s", anchor: median(without), anchorName: "without the preview", target: "ratio <= 1.05")
        report("MP4 size", Double(liveBytes), unit: "bytes", anchor: Double(plainBytes), anchorName: "without the preview", target: "ratio <= 1.05")
        let segments = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/live-0"))?.filter { $0.hasSuffix(".m4s") }.count ?? 0
        print("  segments: \(segments) for \(chunks.count) chunks")

        guard realtimeChunks > 0 else { return }
        // A model making video in real time hands over chunk k when its last frame is due; the
        // segment of chunk k is playable once the playlist lists it.
        let fed = Array(chunks.prefix(realtimeChunks))
        let preview = LivePreview(folder: "\(dir)/live-realtime", segmentFrames: 33)
        let encoder = StreamingEncoder(
            .init(workDir: dir, outputPath: "\(dir)/realtime.mp4", size: size, targetFrames: min(frames, fed.last!.endFrame), live: preview),
            encoders: FFmpegEncoderFactory(settings: settings))
        let start = ContinuousClock.now
        var handed: [Double] = []
        var listed: [Double] = []  // when each segment was first seen in the playlist
        let playlist = preview.folder + "/" + LivePreview.playlistName
        func look() {
            let text = (try? String(contentsOfFile: playlist, encoding: .utf8)) ?? ""
            let segments = text.split(separator: "\n").count { $0.hasSuffix(".m4s") }
            while listed.count < segments { listed.append(elapsed(since: start)) }
        }
        for chunk in fed {
            let due = start + .milliseconds(Int64(Double(chunk.endFrame) / 24 * 1_000))
            while ContinuousClock.now < due {
                look()
                try await Task.sleep(for: .milliseconds(2))
            }
            try encoder.add(chunk)
            handed.append(elapsed(since: start))
        }
        let encodeStart = ContinuousClock.now
        _ = try await encoder.finish()
        look()
        let finishing = elapsed(since: encodeStart)
        let latencies = handed.indices.compactMap { k in k < listed.count ? listed[k] - handed[k] : nil }
        // The target's anchor, "one chunk's encode" by today's encoder, two ways: the first
        // chunk encoded alone, from hand-over to its last packet (what a chunk arriving at a
        // real-time pace costs), and the share of one chunk in the whole encode above (x264's
        // pipeline full, as it never is for a chunk alone).
        var alone: [Double] = []
        for round in 0..<max(3, rounds) {
            let start = ContinuousClock.now
            _ = try await encode([chunks[0]], dir: dir, size: size, settings: settings, live: nil, name: "alone-\(round)")
            alone.append(elapsed(since: start))
        }
        report("first segment listed after its chunk arrived", latencies.first ?? .nan, unit: "s",
               anchor: median(alone), anchorName: "the first chunk encoded alone without the preview", target: "ratio <= 1")
        report("first segment listed after its chunk arrived", latencies.first ?? .nan, unit: "s",
               anchor: median(without) / Double(chunks.count), anchorName: "a chunk's share of the whole encode without the preview")
        let sorted = latencies.sorted()
        if !sorted.isEmpty {
            print(String(format: "  every chunk's segment: median %.3f s, most %.3f s, after its chunk", sorted[sorted.count / 2], sorted.last!))
        }
        print("  each chunk's segment, s after the chunk: \(latencies.map { String(format: "%.3f", $0) }.joined(separator: " "))")
        print("  (the last segment is listed at the end: \(String(format: "%.3f", finishing)) s after the last chunk)")
    }

    func encode(_ chunks: [ChunkDescriptor], dir: String, size: FrameSize, settings: EncoderSettings, live: LivePreview?, name: String) async throws -> StreamingEncoder.Outcome {
        let encoder = StreamingEncoder(
            .init(workDir: dir, outputPath: "\(dir)/\(name).mp4", size: size, targetFrames: min(frames, chunks.last!.endFrame), live: live),
            encoders: FFmpegEncoderFactory(settings: settings))
        for chunk in chunks { try encoder.add(chunk) }
        return try await encoder.finish()
    }
}
