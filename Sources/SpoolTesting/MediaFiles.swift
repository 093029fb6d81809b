import Foundation
import SpoolCore

/// Real image and video files for tests, written and read back by the ffmpeg CLI: a tool
/// apart from the libraries Spool reads them with.
public enum MediaFiles {
    /// Writes RGB24 `frames` of `size` as `path`; its extension picks the format (`.png`,
    /// `.jpg`, `.mp4` as H.264, `.webm` as VP8).
    public static func write(_ frames: [[UInt8]], size: FrameSize, to path: String, fps: Int = 24) throws {
        let raw = path + ".rgb"
        try Data(frames.joined()).write(to: URL(fileURLWithPath: raw))
        defer { try? FileManager.default.removeItem(atPath: raw) }
        var arguments = [
            "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(size.width)x\(size.height)",
            "-r", "\(fps)", "-i", raw,
        ]
        switch URL(fileURLWithPath: path).pathExtension {
        case "mp4": arguments += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p"]
        case "webm": arguments += ["-c:v", "libvpx", "-b:v", "4M"]
        case "jpg", "jpeg": arguments += ["-q:v", "2", "-frames:v", "1"]
        default: arguments += ["-frames:v", "1"]
        }
        let result = try runProcess(arguments + [path])
        guard result.status == 0 else { throw ProbeError(message: "ffmpeg could not write \(path): \(result.stderr)") }
    }

    /// A smooth picture, different for each `index`: gradients that survive lossy coding.
    public static func picture(_ size: FrameSize, index: Int = 0) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: size.rgb24FrameBytes)
        for y in 0..<size.height {
            for x in 0..<size.width {
                let at = (y * size.width + x) * 3
                pixels[at] = UInt8(truncatingIfNeeded: 40 + x * 160 / size.width + index * 3)
                pixels[at + 1] = UInt8(truncatingIfNeeded: 60 + y * 140 / size.height)
                pixels[at + 2] = UInt8(truncatingIfNeeded: 200 - (x + y) * 100 / (size.width + size.height) - index * 2)
            }
        }
        return pixels
    }

    /// Every frame of a video (or the image) at `path`, decoded to RGB24 by the ffmpeg CLI;
    /// `filter` (an ffmpeg `-vf`) must make frames of `size`.
    public static func decodeRGB(_ path: String, size: FrameSize, filter: String? = nil) throws -> [[UInt8]] {
        try MediaProbe.decodeRaw(path, pixelFormat: "rgb24", frameBytes: size.rgb24FrameBytes, filter: filter)
    }

    /// Peak signal-to-noise ratio of `b` against `a`, in dB (8-bit); infinity when identical.
    public static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        precondition(a.count == b.count)
        var sum = 0.0
        for index in a.indices {
            let difference = Double(Int(a[index]) - Int(b[index]))
            sum += difference * difference
        }
        let mse = sum / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// The mean colour of rows `rows` of an RGB24 frame of `size`.
    public static func meanColour(_ frame: [UInt8], size: FrameSize, rows: Range<Int>) -> (Double, Double, Double) {
        var sums = (0.0, 0.0, 0.0)
        for y in rows {
            for x in 0..<size.width {
                let at = (y * size.width + x) * 3
                sums.0 += Double(frame[at])
                sums.1 += Double(frame[at + 1])
                sums.2 += Double(frame[at + 2])
            }
        }
        let count = Double(rows.count * size.width)
        return (sums.0 / count, sums.1 / count, sums.2 / count)
    }
}
