import CFFmpeg
import Foundation

/// The FFmpeg libraries this process runs with, as they report themselves: what `spool
/// --version` says, so a host (a portable bundle's, say) can tell which build it has.
public enum FFmpegBuild {
    /// "libavcodec 59.37.100, libavformat 59.27.100, libswscale 6.7.100".
    public static var versions: String {
        func text(_ name: String, _ version: UInt32) -> String { "\(name) \(version >> 16).\((version >> 8) & 0xFF).\(version & 0xFF)" }
        return [text("libavcodec", avcodec_version()), text("libavformat", avformat_version()), text("libswscale", swscale_version())]
            .joined(separator: ", ")
    }

    /// The `./configure` line libavcodec was built with.
    public static var configuration: String { String(cString: avcodec_configuration()) }
}
