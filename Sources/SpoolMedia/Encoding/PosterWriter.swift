import CFFmpeg
import Foundation
import SpoolCore

/// Writes one RGB24 frame as a PNG, with libavcodec's PNG encoder.
public enum PosterWriter {
    public static func writePNG(_ rgb: UnsafeRawBufferPointer, size: FrameSize, to path: String) throws(MediaError) {
        let data = try png(rgb, size: size)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw MediaError("writing \(path)", code: spool_averror(EIO), message: error.localizedDescription)
        }
    }

    /// A small copy of the image at `path` (a poster), `width` pixels wide at its own aspect
    /// ratio, as a PNG: what a report embeds for each video.
    public static func thumbnail(ofImageAt path: String, width: Int) throws -> Data {
        let source = try MediaSource(path: path)
        let wide = max(16, min(width, source.width)) / 2 * 2
        let size = FrameSize(width: wide, height: max(16, Int((Double(source.height) * Double(wide) / Double(source.width)).rounded()) / 2 * 2))
        let scaler = CoverScaler(target: size)
        var rgb = [UInt8](repeating: 0, count: size.width * size.height * 3)
        try rgb.withUnsafeMutableBytes { buffer in
            try source.forEachFrame { frame in
                try scaler.convert(frame, into: buffer)
                return false
            }
        }
        return try rgb.withUnsafeBytes { buffer throws(MediaError) in try png(buffer, size: size) }
    }

    /// One RGB24 frame as PNG bytes.
    public static func png(_ rgb: UnsafeRawBufferPointer, size: FrameSize) throws(MediaError) -> Data {
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw MediaError("avcodec_find_encoder(png)", code: spool_averror_encoder_not_found(), message: "no PNG encoder")
        }
        var context = avcodec_alloc_context3(encoder)
        var frame = av_frame_alloc()
        var packet = av_packet_alloc()
        defer {
            avcodec_free_context(&context)
            av_frame_free(&frame)
            av_packet_free(&packet)
        }
        guard let context, let frame, let packet else {
            throw MediaError("allocating the PNG encoder", code: spool_averror(ENOMEM), message: "out of memory")
        }
        context.pointee.width = Int32(size.width)
        context.pointee.height = Int32(size.height)
        context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        context.pointee.time_base = AVRational(num: 1, den: 1)
        try check(avcodec_open2(context, encoder, nil), "opening the PNG encoder")
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        frame.pointee.width = Int32(size.width)
        frame.pointee.height = Int32(size.height)
        try check(av_frame_get_buffer(frame, 0), "av_frame_get_buffer")
        let rowBytes = size.width * 3
        let stride = Int(frame.strides[0])
        for row in 0..<size.height {
            (frame.planes[0]! + row * stride).update(
                from: rgb.baseAddress!.assumingMemoryBound(to: UInt8.self) + row * rowBytes, count: rowBytes)
        }
        try check(avcodec_send_frame(context, frame), "encoding the poster")
        try check(avcodec_receive_packet(context, packet), "encoding the poster")
        return Data(bytes: packet.pointee.data, count: Int(packet.pointee.size))
    }
}
