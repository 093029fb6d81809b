import ArgumentParser
import Foundation
import SpoolCore
import SpoolMedia
import SpoolSynthetic
import SpoolTesting

/// The in-process streaming encoder against the ffmpeg CLI on the same raw frames with
/// the same settings; peak memory by video length; tail latency at a real-time pace.
struct EncodeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode", abstract: "Encoding speed, memory and tail latency.")

    @Option(help: "Frames per video.") var frames = 1_440
    @Option(help: "Sizes to measure.") var sizes = ["640x384", "1280x720"]
    @Option(help: "Frames fed at a real-time pace (24 FPS) for the tail-latency figure; 0 skips it.") var realtimeFrames = 1_440
    @Option(help: "x264 preset, for both sides.") var preset = "medium"
    @Option(help: "x264 CRF, for both sides.") var crf = 23
    @Option(help: "x264 rc-lookahead, for both sides.") var lookahead = EncoderSettings.streamingLookahead
    @Option(help: "Scratch folder.") var folder = FileManager.default.currentDirectoryPath + "/.build"

    func run() async throws {
        print("== Encoding: in-process libavcodec vs the ffmpeg CLI (libx264 crf \(crf) preset \(preset) rc-lookahead \(lookahead), yuv420p, +faststart) ==")
        for text in sizes {
            guard let size = FrameSize(parsing: text) else { throw ValidationError("bad size \(text)") }
            let dir = "\(folder)/spool-bench-encode-\(text)"
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let plan = ChunkPlan(chunkFrames: 33, overlap: 0, trim: .helios)
            let chunks = try ChunkFiles.write(plan: plan, frames: frames, size: size, into: dir)
            print("-- \(size): \(frames) frames from \(chunks.count) chunk files")

            // Anchor: the ffmpeg CLI reading the very same chunk files in order.
            let cliStart = ContinuousClock.now
            let cli = try runProcess([
                "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size.description, "-r", "24",
                "-i", "concat:" + chunks.map { "\(dir)/\($0.file)" }.joined(separator: "|"), "-frames:v", String(frames),
                "-c:v", "libx264", "-crf", String(crf), "-preset", preset, "-rc-lookahead", String(lookahead),
                "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                "\(dir)/cli.mp4",
            ])
            let cliSeconds = elapsed(since: cliStart)
            guard cli.status == 0 else { throw ValidationError("ffmpeg failed: \(cli.stderr)") }

            let settings = EncoderSettings(codec: .h264, quality: crf, preset: preset, lookahead: lookahead)
            let encodeStart = ContinuousClock.now
            let outcome = try await encode(chunks: chunks, dir: dir, size: size, frames: frames, settings: settings)
            let spoolSeconds = elapsed(since: encodeStart)
            let ours = try MediaProbe(path: "\(dir)/spool.mp4")
            let theirs = try MediaProbe(path: "\(dir)/cli.mp4")
            precondition(ours.frames == frames && theirs.frames == frames, "both encodes hold every frame")
            report("encode wall time", spoolSeconds, unit: "s", anchor: cliSeconds, anchorName: "ffmpeg CLI", target: "ratio <= 1.0")
            report("  encode rate", Double(frames) / spoolSeconds, unit: "frames/s", anchor: Double(frames) / cliSeconds, anchorName: "ffmpeg CLI")
            print("  sizes: spool \(outcome.video.bytes) bytes, CLI \(fileSize("\(dir)/cli.mp4")) bytes; duration \(ours.duration) s (CLI \(theirs.duration) s)")
            report("  quality meter (seams, flicker, freezes, drift), every frame", try meterSeconds(chunks: chunks, dir: dir, size: size, frames: frames),
                   unit: "s", anchor: spoolSeconds, anchorName: "the encode it runs inside", target: "ratio <= 0.03")

            // Peak memory, each in a fresh process: the full video against a tenth of it.
            let full = try peakMemory(dir: dir, size: size, frames: frames)
            let tenth = try peakMemory(dir: dir, size: size, frames: frames / 10)
            report("  peak RSS, \(frames) frames", full, unit: "MB", anchor: tenth, anchorName: "\(frames / 10) frames",
                   target: "<= 300 MB and ratio <= 1.25")

            if realtimeFrames > 0 {
                let twoChunks = spoolSeconds / Double(frames) * 66
                let tail = try await tailLatency(chunks: chunks, dir: dir, size: size, frames: min(realtimeFrames, frames), settings: settings)
                report("  tail latency at a real-time pace (last chunk in -> MP4 closed)", tail, unit: "s",
                       anchor: twoChunks, anchorName: "time to encode two chunks", target: "ratio <= 1.0")
            }
        }
    }

    /// Time ``QualityMeter`` spends on the video's frames, the chunk files read beforehand (the
    /// encoder has each frame in memory when it measures it).
    func meterSeconds(chunks: [ChunkDescriptor], dir: String, size: FrameSize, frames: Int) throws -> Double {
        var meter = QualityMeter(size: size)
        var measured = 0
        var seconds = 0.0
        for chunk in chunks where measured < frames {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(chunk.file)"))
            let count = min(chunk.frames, frames - measured)
            let start = ContinuousClock.now
            data.withUnsafeBytes { bytes in
                for frame in 0..<count {
                    meter.add(UnsafeRawBufferPointer(rebasing: bytes[(frame * size.rgb24FrameBytes)...].prefix(size.rgb24FrameBytes)), chunk: chunk.index)
                }
            }
            seconds += elapsed(since: start)
            measured += count
        }
        precondition(meter.result()?.frames == frames)
        return seconds
    }

    func encode(chunks: [ChunkDescriptor], dir: String, size: FrameSize, frames: Int, settings: EncoderSettings) async throws -> StreamingEncoder.Outcome {
        let encoder = StreamingEncoder(
            .init(workDir: dir, outputPath: "\(dir)/spool.mp4", size: size, targetFrames: frames),
            encoders: FFmpegEncoderFactory(settings: settings))
        for chunk in chunks { try encoder.add(chunk) }
        return try await encoder.finish()
    }

    func tailLatency(chunks: [ChunkDescriptor], dir: String, size: FrameSize, frames: Int, settings: EncoderSettings) async throws -> Double {
        let encoder = StreamingEncoder(
            .init(workDir: dir, outputPath: "\(dir)/realtime.mp4", size: size, targetFrames: frames),
            encoders: FFmpegEncoderFactory(settings: settings))
        let start = ContinuousClock.now
        var lastIn = start
        for chunk in chunks where chunk.firstFrame < frames {
            // A model producing video in real time writes chunk k when its last frame is due.
            let due = start + .milliseconds(Int64(Double(min(chunk.endFrame, frames)) / 24 * 1_000))
            try await Task.sleep(until: due, clock: .continuous)
            try encoder.add(chunk)
            lastIn = .now
        }
        _ = try await encoder.finish()
        let (s, a) = (ContinuousClock.now - lastIn).components
        return Double(s) + Double(a) / 1e18
    }

    /// Runs `spool-bench encode-one` in a fresh process and returns its peak RSS in MB.
    func peakMemory(dir: String, size: FrameSize, frames: Int) throws -> Double {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let result = try runProcess([exe, "encode-one", "--dir", dir, "--size", size.description, "--frames", String(frames),
                                     "--preset", preset, "--crf", String(crf), "--lookahead", String(lookahead)])
        guard result.status == 0, let mb = Double(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ValidationError("encode-one failed: \(result.stderr)")
        }
        return mb
    }

    func fileSize(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}

/// Encodes the first `frames` frames of a folder of Helios-shaped chunks and prints the
/// process's peak RSS (VmHWM) in MB: run in its own process by `encode`.
struct EncodeOne: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode-one", shouldDisplay: false)

    @Option var dir: String
    @Option var size: String
    @Option var frames: Int
    @Option var preset = "medium"
    @Option var crf = 23
    @Option var lookahead = EncoderSettings.streamingLookahead

    func run() async throws {
        guard let size = FrameSize(parsing: size) else { throw ValidationError("bad size") }
        let plan = ChunkPlan(chunkFrames: 33, overlap: 0, trim: .helios)
        let encoder = StreamingEncoder(
            .init(workDir: dir, outputPath: "\(dir)/memory-\(frames).mp4", size: size, targetFrames: frames),
            encoders: FFmpegEncoderFactory(settings: EncoderSettings(codec: .h264, quality: crf, preset: preset, lookahead: lookahead)))
        for (index, chunk) in plan.chunks(forFrames: 1_440).enumerated() where chunk.firstFrame < frames {
            try encoder.add(ChunkDescriptor(
                index: index, firstFrame: chunk.firstFrame, frames: chunk.frames, width: size.width, height: size.height,
                file: String(format: "chunk-%05d.rgb", index)))
        }
        _ = try await encoder.finish()
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? "VmHWM: 0 kB"
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        print(String(format: "%.1f", kb / 1024))
    }
}
