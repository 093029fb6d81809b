import Foundation
import SpoolCore

/// What `ffprobe` says of a video: an independent check of what Spool wrote.
public struct MediaProbe: Sendable {
    public var codec: String
    public var pixelFormat: String
    public var width: Int
    public var height: Int
    /// Frames counted by decoding (`-count_frames`).
    public var frames: Int
    /// `r_frame_rate`, e.g. `24/1`.
    public var frameRate: String
    /// The container's duration in seconds, as ffprobe prints it (MP4's movie header
    /// counts milliseconds, so this is rounded to 1 ms).
    public var duration: String
    /// The video stream's own duration, exact in its time base.
    public var streamDuration: String
    public var formatName: String

    /// Probes `path` with `ffprobe -count_frames`.
    public init(path: String) throws {
        let result = try runProcess([
            "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate,duration:format=duration,format_name",
            "-of", "json", path,
        ])
        guard result.status == 0 else { throw ProbeError(message: "ffprobe failed: \(result.stderr)") }
        let json = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] ?? [:]
        let stream = (json["streams"] as? [[String: Any]])?.first ?? [:]
        let format = json["format"] as? [String: Any] ?? [:]
        codec = stream["codec_name"] as? String ?? ""
        pixelFormat = stream["pix_fmt"] as? String ?? ""
        width = stream["width"] as? Int ?? 0
        height = stream["height"] as? Int ?? 0
        frames = Int(stream["nb_read_frames"] as? String ?? "") ?? -1
        frameRate = stream["r_frame_rate"] as? String ?? ""
        duration = format["duration"] as? String ?? ""
        streamDuration = stream["duration"] as? String ?? ""
        formatName = format["format_name"] as? String ?? ""
    }

    /// Decodes every frame to 8-bit luma with the ffmpeg CLI, one array per frame.
    public static func decodeLuma(path: String, size: FrameSize) throws -> [[UInt8]] {
        try decodeRaw(path, pixelFormat: "gray", frameBytes: size.width * size.height)
    }

    /// Decodes every frame (through `filter`, when given) to raw `pixelFormat` frames of
    /// `frameBytes` each with the ffmpeg CLI, one array per frame.
    public static func decodeRaw(_ path: String, pixelFormat: String, frameBytes: Int, filter: String? = nil) throws -> [[UInt8]] {
        let result = try runProcess(
            ["ffmpeg", "-v", "error", "-i", path] + (filter.map { ["-vf", $0] } ?? []) + ["-f", "rawvideo", "-pix_fmt", pixelFormat, "-"])
        guard result.status == 0 else { throw ProbeError(message: "ffmpeg could not decode \(path): \(result.stderr)") }
        let bytes = [UInt8](result.stdout)
        return stride(from: 0, to: bytes.count - frameBytes + 1, by: frameBytes).map { Array(bytes[$0..<($0 + frameBytes)]) }
    }

    /// The first audio stream, as ffprobe sees it; nil when the file has none.
    public static func audio(path: String) throws -> AudioProbe? {
        let result = try runProcess([
            "ffprobe", "-v", "error", "-select_streams", "a:0",
            "-show_entries", "stream=codec_name,sample_rate,channels,duration", "-of", "json", path,
        ])
        guard result.status == 0 else { throw ProbeError(message: "ffprobe failed: \(result.stderr)") }
        let json = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] ?? [:]
        guard let stream = (json["streams"] as? [[String: Any]])?.first else { return nil }
        return AudioProbe(
            codec: stream["codec_name"] as? String ?? "", sampleRate: Int(stream["sample_rate"] as? String ?? "") ?? 0,
            channels: stream["channels"] as? Int ?? 0, duration: Double(stream["duration"] as? String ?? "") ?? -1)
    }

    /// Decodes the first audio stream with the ffmpeg CLI to mono floats at its own rate (the
    /// decoder applies the MP4's edit list: the encoder's priming samples are not played).
    public static func decodeAudio(path: String) throws -> [Float] {
        let result = try runProcess(["ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"])
        guard result.status == 0 else { throw ProbeError(message: "ffmpeg could not decode the sound of \(path): \(result.stderr)") }
        return result.stdout.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Whether the ffmpeg and ffprobe programs are installed.
    public static var toolsAvailable: Bool {
        (try? runProcess(["ffprobe", "-version"]).status) == 0
    }
}

/// An audio stream, as ffprobe sees it.
public struct AudioProbe: Sendable, Hashable {
    public var codec: String
    public var sampleRate: Int
    public var channels: Int
    /// The stream's duration in seconds.
    public var duration: Double
}

/// The pitch of a pure tone, measured from its rising zero crossings.
public enum ToneAnalysis {
    /// The frequency of the tone in `samples` (mono, at `sampleRate`), or nil when it has
    /// fewer than two rising crossings.
    public static func frequency(_ samples: ArraySlice<Float>, sampleRate: Int) -> Double? {
        var crossings: [Double] = []
        var previous: Float?
        for (position, value) in zip(samples.indices, samples) {
            if let previous, previous < 0, value >= 0 {
                // Where the line between the two samples meets zero.
                crossings.append(Double(position - 1) + Double(-previous / (value - previous)))
            }
            previous = value
        }
        guard crossings.count >= 2, let first = crossings.first, let last = crossings.last, last > first else { return nil }
        return Double(crossings.count - 1) * Double(sampleRate) / (last - first)
    }
}

public struct ProbeError: Error, CustomStringConvertible {
    public var message: String

    public init(message: String) { self.message = message }

    public var description: String { message }
}
