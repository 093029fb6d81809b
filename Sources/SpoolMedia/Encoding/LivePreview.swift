import CFFmpeg
import Foundation
import SpoolCore

/// Where and how a job's video is also written as a live HLS playlist while it encodes.
public struct LivePreview: Sendable, Hashable {
    /// The folder of `live.m3u8`, `init.mp4` and `seg00000.m4s`, … (created when missing).
    public var folder: String
    /// Frames a segment holds: the pipeline's chunk, so a segment comes with each chunk.
    public var segmentFrames: Int

    public static let playlistName = "live.m3u8"

    public init(folder: String, segmentFrames: Int) {
        self.folder = folder
        self.segmentFrames = max(1, segmentFrames)
    }

    /// Whether `name` is a file a live preview writes (and so may be served from its folder).
    public static func isFileName(_ name: String) -> Bool {
        name == playlistName || name == "init.mp4"
            || (name.hasPrefix("seg") && name.hasSuffix(".m4s") && name.dropFirst(3).dropLast(4).allSatisfy(\.isASCII)
                && name.dropFirst(3).dropLast(4).allSatisfy(\.isNumber) && name.count <= 16)
    }
}

/// The second muxer of an encoder with a live preview: libavformat's HLS muxer writing an
/// event playlist of fragmented-MP4 segments from the very packets the MP4 gets. No second
/// encode; the encoder starts a keyframe at every segment's first frame (see
/// ``FFmpegVideoEncoder``).
///
/// A failure here never fails the job: the preview stops (``failure`` says why) and the MP4
/// goes on.
final class LivePreviewMuxer {
    let preview: LivePreview
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private(set) var failure: MediaError?

    /// Opens the playlist for the stream `codec` makes (opened already, extradata set).
    init(_ preview: LivePreview, codec: UnsafeMutablePointer<AVCodecContext>, fps: Int) {
        self.preview = preview
        do {
            try open(codec: codec, fps: fps)
        } catch {
            stop(error)
        }
    }

    private func open(codec: UnsafeMutablePointer<AVCodecContext>, fps: Int) throws(MediaError) {
        try? FileManager.default.createDirectory(atPath: preview.folder, withIntermediateDirectories: true)
        let playlist = preview.folder + "/" + LivePreview.playlistName
        try check(avformat_alloc_output_context2(&format, nil, "hls", playlist), "avformat_alloc_output_context2(hls)")
        guard let format, let newStream = avformat_new_stream(format, nil), let newPacket = av_packet_alloc() else {
            throw MediaError("allocating the live preview", code: spool_averror(ENOMEM), message: "out of memory")
        }
        stream = newStream
        packet = newPacket
        try check(avcodec_parameters_from_context(newStream.pointee.codecpar, codec), "avcodec_parameters_from_context(hls)")
        newStream.pointee.time_base = codec.pointee.time_base
        newStream.pointee.avg_frame_rate = codec.pointee.framerate
        var options = FFmpegOptions([
            ("hls_segment_type", "fmp4"), ("hls_playlist_type", "event"), ("hls_list_size", "0"),
            ("hls_time", String(format: "%.6f", Double(preview.segmentFrames) / Double(fps))),
            ("hls_fmp4_init_filename", "init.mp4"), ("hls_segment_filename", preview.folder + "/seg%05d.m4s"),
            ("hls_flags", "independent_segments"),
        ])
        defer { options.free() }
        try check(avformat_write_header(format, &options.pointer), "writing the live playlist's header")
    }

    /// Writes a copy of `source` (in `timeBase`), which the caller still owns.
    func write(_ source: UnsafeMutablePointer<AVPacket>, timeBase: AVRational) {
        guard failure == nil, let format, let stream, let packet else { return }
        do {
            try check(av_packet_ref(packet, source), "av_packet_ref")
            packet.pointee.stream_index = stream.pointee.index
            av_packet_rescale_ts(packet, timeBase, stream.pointee.time_base)
            let written = av_write_frame(format, packet)
            av_packet_unref(packet)
            try check(written, "writing a live segment")
        } catch {
            stop(error)
        }
    }

    /// Ends the playlist (`#EXT-X-ENDLIST`): the job is over, however it ended.
    func finish() {
        guard failure == nil, let format else { return release() }
        let status = av_write_trailer(format)
        if status < 0 { failure = MediaError("writing the live playlist's end", code: status, message: "") }
        release()
    }

    private func stop(_ error: MediaError) {
        failure = error
        release()
    }

    private func release() {
        if let format {
            avformat_free_context(format)
            self.format = nil
        }
        if packet != nil { av_packet_free(&packet) }
    }

    deinit { release() }
}
