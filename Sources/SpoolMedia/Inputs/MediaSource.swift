import CFFmpeg
import Foundation
import SpoolCore

/// An image or video file opened with libavformat, its best video stream decoded frame by
/// frame with libavcodec, each frame turned into RGB24 at a size of the caller's choosing
/// with libswscale.
///
/// Only container formats an image or a clip comes in are opened (`formatWhitelist`), and
/// only local files: FFmpeg's playlist and concatenation demuxers, which open other files
/// or URLs named inside the input, never see an upload.
final class MediaSource {
    /// The demuxers an input may be read by: still images and the usual video containers.
    static let formatWhitelist =
        "png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"

    let width: Int
    let height: Int
    let codec: String
    let format: String
    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    private var decoder: UnsafeMutablePointer<AVCodecContext>?
    private let stream: Int32
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var frame: UnsafeMutablePointer<AVFrame>?

    /// Opens `path`; the error says why it is not an image or a video.
    init(path: String) throws(MediaError) {
        var options = FFmpegOptions([("format_whitelist", Self.formatWhitelist), ("protocol_whitelist", "file")])
        defer { options.free() }
        var context: UnsafeMutablePointer<AVFormatContext>?
        try check(avformat_open_input(&context, path, nil, &options.pointer), "opening the file")
        var decoder: UnsafeMutablePointer<AVCodecContext>?
        do throws(MediaError) {
            try check(avformat_find_stream_info(context, nil), "reading its streams")
            var codecPointer: UnsafePointer<AVCodec>?
            let index = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, &codecPointer, 0)
            try check(index, "finding a picture in it")
            guard let codecPointer, let parameters = context!.pointee.streams[Int(index)]!.pointee.codecpar else {
                throw MediaError("finding a decoder", code: spool_averror(EINVAL), message: "no decoder for its pictures")
            }
            decoder = avcodec_alloc_context3(codecPointer)
            try check(avcodec_parameters_to_context(decoder, parameters), "reading its codec parameters")
            decoder!.pointee.thread_count = 1
            try check(avcodec_open2(decoder, codecPointer, nil), "opening its decoder")
            guard decoder!.pointee.width > 0, decoder!.pointee.height > 0 else {
                throw MediaError("reading its frame size", code: spool_averror(EINVAL), message: "it has no frame size")
            }
            stream = index
            width = Int(decoder!.pointee.width)
            height = Int(decoder!.pointee.height)
            codec = String(cString: codecPointer.pointee.name)
            format = String(cString: context!.pointee.iformat.pointee.name)
        } catch {
            avcodec_free_context(&decoder)
            avformat_close_input(&context)
            throw error
        }
        formatContext = context
        self.decoder = decoder
        packet = av_packet_alloc()
        frame = av_frame_alloc()
    }

    deinit { close() }

    private func close() {
        av_frame_free(&frame)
        av_packet_free(&packet)
        avcodec_free_context(&decoder)
        avformat_close_input(&formatContext)
    }

    /// Decodes every frame in order, handing each to `body` until it returns false.
    func forEachFrame(_ body: (UnsafeMutablePointer<AVFrame>) throws -> Bool) throws {
        var draining = false
        while true {
            if !draining {
                let read = av_read_frame(formatContext, packet)
                if read == spool_averror_eof() {
                    draining = true
                    try check(avcodec_send_packet(decoder, nil), "flushing the decoder")
                } else {
                    try check(read, "reading a packet")
                    defer { av_packet_unref(packet) }
                    if packet!.pointee.stream_index != stream { continue }
                    try check(avcodec_send_packet(decoder, packet), "decoding a packet")
                }
            }
            while true {
                let received = avcodec_receive_frame(decoder, frame)
                if received == spool_averror_eagain() { break }
                if received == spool_averror_eof() { return }
                try check(received, "decoding a frame")
                defer { av_frame_unref(frame) }
                if try !body(frame!) { return }
            }
        }
    }
}

/// Turns decoded frames into RGB24 at a target size: scaled to cover it, keeping the aspect
/// ratio, and cropped to its centre (a 16:9 clip for a 5:3 job loses a sliver at each side).
final class CoverScaler {
    let target: FrameSize
    private var scaler: OpaquePointer?
    private var scaled: UnsafeMutablePointer<AVFrame>?
    private var source: (width: Int32, height: Int32, format: Int32) = (0, 0, -1)
    private var cover: FrameSize = FrameSize(width: 0, height: 0)

    init(target: FrameSize) {
        self.target = target
    }

    deinit {
        sws_freeContext(scaler)
        av_frame_free(&scaled)
    }

    /// The cover size for a source: at least `target` both ways, the source's aspect ratio.
    static func cover(source width: Int, _ height: Int, target: FrameSize) -> FrameSize {
        let scale = max(Double(target.width) / Double(width), Double(target.height) / Double(height))
        return FrameSize(
            width: max(target.width, Int((Double(width) * scale).rounded())),
            height: max(target.height, Int((Double(height) * scale).rounded())))
    }

    /// Writes `frame` as `target.width * target.height * 3` bytes into `output`.
    func convert(_ frame: UnsafeMutablePointer<AVFrame>, into output: UnsafeMutableRawBufferPointer) throws(MediaError) {
        let key = (frame.pointee.width, frame.pointee.height, frame.pointee.format)
        if key != source {
            source = key
            cover = Self.cover(source: Int(key.0), Int(key.1), target: target)
            sws_freeContext(scaler)
            scaler = sws_getContext(
                key.0, key.1, AVPixelFormat(rawValue: key.2), Int32(cover.width), Int32(cover.height), AV_PIX_FMT_RGB24,
                spool_sws_bicubic(), nil, nil, nil)
            av_frame_free(&scaled)
            scaled = av_frame_alloc()
            guard scaler != nil, let scaled else {
                throw MediaError("setting up the scaler", code: spool_averror(EINVAL), message: "unsupported pixel format")
            }
            scaled.pointee.format = AV_PIX_FMT_RGB24.rawValue
            scaled.pointee.width = Int32(cover.width)
            scaled.pointee.height = Int32(cover.height)
            try check(av_frame_get_buffer(scaled, 0), "av_frame_get_buffer")
        }
        guard let scaled else { return }
        _ = withUnsafePointer(to: frame.pointee.data) { data in
            withUnsafePointer(to: frame.pointee.linesize) { lines in
                data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { planes in
                    lines.withMemoryRebound(to: Int32.self, capacity: 8) { strides in
                        sws_scale(scaler, planes, strides, 0, frame.pointee.height, scaled.planes, scaled.strides)
                    }
                }
            }
        }
        let left = (cover.width - target.width) / 2
        let top = (cover.height - target.height) / 2
        let rowBytes = target.width * 3
        let stride = Int(scaled.strides[0])
        for row in 0..<target.height {
            (output.baseAddress! + row * rowBytes).copyMemory(
                from: scaled.planes[0]! + (top + row) * stride + left * 3, byteCount: rowBytes)
        }
    }
}
