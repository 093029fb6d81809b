import CFFmpeg
import Foundation
import SpoolCore

/// Encodes RGB24 frames to MP4 with libswscale (RGB24 → YUV 4:2:0), libavcodec and
/// libavformat, the way `ffmpeg -f rawvideo -pix_fmt rgb24 … -c:v libx264 -movflags +faststart`
/// does, so the two produce the same stream for the same settings.
///
/// Time base 1/fps; frame `n` has pts `n` and duration 1, so the MP4 lasts exactly
/// frames/fps seconds, last frame included.
public final class FFmpegVideoEncoder: VideoEncoder {
    public let path: String
    public let size: FrameSize
    public let fps: Int
    public let settings: EncoderSettings
    /// Also writes a live HLS playlist of the same packets, when set.
    public let livePreview: LivePreview?
    /// Also keeps the video segment by segment for a later attempt, when set.
    public let kept: KeptSegments?
    /// An earlier attempt's video this one goes on from, when set.
    public let prefix: EncodedPrefix?
    /// The sound the video carries as an AAC track (``encodeAudio(_:)``), when set. A video
    /// with sound is not kept segment by segment: a kept video holds no sound yet.
    public let audio: AudioFormat?
    /// Frames a segment holds, when the video is cut into segments (a live preview, a kept video).
    private var segmentFrames: Int? { livePreview?.segmentFrames ?? kept?.segmentFrames }

    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    private var scaler: OpaquePointer?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var framesEncoded = 0
    private var finished = false
    private var live: LivePreviewMuxer?
    private var keeper: LivePreviewMuxer?
    private var sink: PacketSink?
    private var sound: AACEncoder?

    /// Whether libavcodec has an encoder by this name (an NVENC encoder may still fail
    /// to open without a GPU).
    public static func hasEncoder(_ codec: EncoderSettings.Codec) -> Bool {
        avcodec_find_encoder_by_name(codec.encoderName) != nil
    }

    /// Opens `path` for writing and sets up the encoder; the file is complete only after
    /// ``finish()``.
    public init(
        path: String, size: FrameSize, fps: Int, settings: EncoderSettings, livePreview: LivePreview? = nil,
        kept: KeptSegments? = nil, prefix: EncodedPrefix? = nil, audio: AudioFormat? = nil
    ) throws(MediaError) {
        self.path = path
        self.size = size
        self.fps = fps
        self.settings = settings
        self.livePreview = livePreview
        self.kept = audio == nil ? kept : nil
        self.prefix = prefix
        self.audio = audio
        if audio != nil && prefix != nil {
            throw MediaError("continuing a kept video", code: -1, message: "a kept video holds no sound, so a video with sound cannot go on from one")
        }
        if let live = livePreview?.segmentFrames, let kept = kept?.segmentFrames {
            precondition(live == kept, "a live preview and a kept video are cut at the same frames")
        }
        do {
            try open()
        } catch {
            release()
            unlink(path)
            throw error
        }
    }

    deinit { release() }

    /// FFmpeg logs encoder statistics to stderr by default; Spool reports errors itself.
    private static let quietLogs: Void = av_log_set_level(AV_LOG_ERROR)

    private func open() throws(MediaError) {
        _ = Self.quietLogs
        guard let encoder = avcodec_find_encoder_by_name(settings.codec.encoderName) else {
            throw MediaError(
                "avcodec_find_encoder_by_name(\(settings.codec.encoderName))", code: spool_averror_encoder_not_found(),
                message: "this FFmpeg build has no \(settings.codec.encoderName) encoder")
        }
        try check(avformat_alloc_output_context2(&format, nil, "mp4", path), "avformat_alloc_output_context2(\(path))")
        guard let format, let newStream = avformat_new_stream(format, nil) else {
            throw MediaError("allocating the muxer", code: spool_averror(ENOMEM), message: "out of memory")
        }
        stream = newStream
        let context = try openCodec(encoder, globalHeader: format.pointee.oformat.pointee.flags & spool_avfmt_globalheader() != 0)
        try check(avcodec_parameters_from_context(newStream.pointee.codecpar, context), "avcodec_parameters_from_context")
        newStream.pointee.time_base = context.pointee.time_base
        newStream.pointee.avg_frame_rate = context.pointee.framerate
        var soundStream: (stream: UnsafeMutablePointer<AVStream>, timeBase: AVRational)?
        if let audio {
            let sound = try AACEncoder(format: audio, globalHeader: format.pointee.oformat.pointee.flags & spool_avfmt_globalheader() != 0)
            self.sound = sound
            guard let stream = avformat_new_stream(format, nil), let soundCodec = sound.codec else {
                throw MediaError("allocating the muxer's sound", code: spool_averror(ENOMEM), message: "out of memory")
            }
            try check(avcodec_parameters_from_context(stream.pointee.codecpar, soundCodec), "avcodec_parameters_from_context(audio)")
            stream.pointee.time_base = soundCodec.pointee.time_base
            soundStream = (stream, soundCodec.pointee.time_base)
        }

        try check(avio_open(&format.pointee.pb, path, spool_avio_flag_write()), "opening \(path) for writing")
        var muxerOptions = FFmpegOptions([("movflags", "+faststart")])
        defer { muxerOptions.free() }
        try check(avformat_write_header(format, &muxerOptions.pointer), "writing the MP4 header")
        if let livePreview { live = LivePreviewMuxer(livePreview, codec: context, audio: sound?.codec, fps: fps) }
        if let kept {
            keeper = LivePreviewMuxer(
                LivePreview(folder: kept.folder, segmentFrames: kept.segmentFrames), codec: context, fps: fps, durable: true,
                onCut: kept.onDurable)
            // A video that cannot be kept costs only the checkpoints: the MP4 goes on.
        }
        let sink = PacketSink(
            format: format, stream: newStream, timeBase: context.pointee.time_base, audio: soundStream,
            segmenters: [live, keeper].compactMap { $0 }, path: path)
        self.sink = sink
        if let prefix { try remux(prefix, into: sink, initialisation: try LivePreviewMuxer.initialisationSegment(codec: context)) }

        scaler = sws_getContext(
            Int32(size.width), Int32(size.height), AV_PIX_FMT_RGB24,
            Int32(size.width), Int32(size.height), AV_PIX_FMT_YUV420P,
            spool_sws_bicubic(), nil, nil, nil)
        frame = av_frame_alloc()
        packet = av_packet_alloc()
        guard scaler != nil, let frame, packet != nil else {
            throw MediaError("allocating the scaler", code: spool_averror(ENOMEM), message: "out of memory")
        }
        frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointee.width = Int32(size.width)
        frame.pointee.height = Int32(size.height)
        try check(av_frame_get_buffer(frame, 0), "av_frame_get_buffer")
    }

    /// Writes an earlier attempt's kept video into the MP4 (and the segment muxers, cut where
    /// it was cut) as it is, and goes on from its last frame: the next frame encoded is frame
    /// `prefix.frames`, opening a segment with a fresh encoder instance as every segment does.
    /// Refused when the kept video's initialisation segment differs from the one this
    /// encoder's stream makes (other settings, another encoder or FFmpeg), since their packets
    /// could not share one stream.
    private func remux(_ prefix: EncodedPrefix, into sink: PacketSink, initialisation: Data) throws(MediaError) {
        guard prefix.segments > 0, prefix.frames % prefix.segments == 0,
              segmentFrames == nil || segmentFrames == prefix.frames / prefix.segments
        else {
            throw MediaError("continuing a kept video", code: -1, message: "its \(prefix.segments) segments do not hold \(prefix.frames) frames")
        }
        let segmentFrames = prefix.frames / prefix.segments
        guard FileManager.default.contents(atPath: prefix.files[0]) == initialisation else {
            throw MediaError("continuing a kept video", code: -1,
                             message: "its stream differs from this encoder's (encoded with other settings, or another encoder)")
        }
        let packets = try prefix.packets(in: AVRational(num: 1, den: Int32(fps)), scratch: path + ".kept")
        defer { for packet in packets { var owned: UnsafeMutablePointer<AVPacket>? = packet; av_packet_free(&owned) } }
        for (index, packet) in packets.enumerated() {
            try sink.writeKept(packet)
            if (index + 1) % segmentFrames == 0 { sink.cutKept() }
        }
        framesEncoded = prefix.frames
    }

    /// Allocates and opens the encoder (into ``codec``) with this encoder's settings.
    private func openCodec(_ encoder: UnsafePointer<AVCodec>, globalHeader: Bool) throws(MediaError) -> UnsafeMutablePointer<AVCodecContext> {
        guard let context = avcodec_alloc_context3(encoder) else {
            throw MediaError("allocating the encoder", code: spool_averror(ENOMEM), message: "out of memory")
        }
        codec = context
        context.pointee.width = Int32(size.width)
        context.pointee.height = Int32(size.height)
        context.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        context.pointee.time_base = AVRational(num: 1, den: Int32(fps))
        context.pointee.framerate = AVRational(num: Int32(fps), den: 1)
        context.pointee.thread_count = Int32(settings.threads)
        if globalHeader { context.pointee.flags |= spool_codec_flag_global_header() }
        var options = FFmpegOptions(settings.codecOptions)
        defer { options.free() }
        try check(avcodec_open2(context, encoder, &options.pointer), "opening the \(settings.codec.encoderName) encoder")
        return context
    }

    public func encode(_ rgb: UnsafeRawBufferPointer) throws(MediaError) {
        precondition(!finished, "encode(_:) after finish()")
        precondition(rgb.count >= size.rgb24FrameBytes, "a frame is \(size.rgb24FrameBytes) bytes")
        guard let frame, let codec else { return }
        // The encoder may still hold a reference to the previous frame's buffer.
        try check(av_frame_make_writable(frame), "av_frame_make_writable")
        var source: UnsafePointer<UInt8>? = rgb.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var stride = Int32(size.width * 3)
        _ = sws_scale(scaler, &source, &stride, 0, Int32(size.height), frame.planes, frame.strides)
        frame.pointee.pts = Int64(framesEncoded)
        try check(avcodec_send_frame(codec, frame), "sending frame \(framesEncoded) to the encoder")
        framesEncoded += 1
        if let sink, let packet { try sink.drain(codec, into: packet) }
        if let segmentFrames, framesEncoded % segmentFrames == 0 { try endSegment() }
    }

    /// Encodes the sound of the frames encoded so far that had none yet: interleaved samples of
    /// the video's ``audio`` format, a whole number of sample frames. Ignored without sound.
    public func encodeAudio(_ samples: UnsafeBufferPointer<Float>) throws(MediaError) {
        precondition(!finished, "encodeAudio(_:) after finish()")
        guard let sound, let sink else { return }
        try sound.add(samples, sink: sink)
    }

    /// Ends a live segment where its frames end: the encoder gives out every packet of the
    /// frames so far (x264 otherwise holds its look-ahead, 20 frames, and its B-frames), the
    /// live muxer writes the segment, and the encoder starts afresh, so the next segment opens
    /// with a keyframe and plays on its own. The MP4 gets the same packets.
    ///
    /// libx264 in FFmpeg 5.1 cannot be flushed and go on (no `AV_CODEC_CAP_ENCODER_FLUSH`), so
    /// a new instance with the same settings takes the next frames at once while the old one
    /// drains in the background (see ``PacketSink``). Opening one costs 1.3 ms at 640x384. Its
    /// stream headers are the same (checked), and so is its timestamps' offset from pts, so
    /// decode order stays increasing across the seam. Every encoder takes this one path.
    private func endSegment() throws(MediaError) {
        guard let old = codec, let encoder = old.pointee.codec, let sink else { return }
        let headers = old.streamHeaders
        let globalHeader = old.pointee.flags & spool_codec_flag_global_header() != 0
        codec = nil
        try sink.drainInBackground(old)
        let context = try openCodec(encoder, globalHeader: globalHeader)
        guard context.streamHeaders == headers else {
            throw MediaError("reopening the encoder for the next live segment", code: -1,
                             message: "the reopened encoder's stream headers differ from the first")
        }
    }

    public func finish() throws(MediaError) -> EncodedVideo {
        precondition(!finished, "finish() twice")
        finished = true
        defer { release() }
        guard let codec, let format, let sink, let packet else { throw MediaError("finish", code: -1, message: "encoder not open") }
        try sink.waitForDrain()
        try check(avcodec_send_frame(codec, nil), "flushing the encoder")
        try sink.drain(codec, into: packet)
        try sound?.finish(sink: sink)
        try check(av_write_trailer(format), "writing the MP4 trailer")
        try check(avio_closep(&format.pointee.pb), "closing \(path)")
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        let liveFailure = endLivePreview()
        return EncodedVideo(
            path: path, frames: framesEncoded, fps: fps, bytes: bytes, codec: settings.codec.encoderName,
            livePreviewFailure: liveFailure.map { "\($0)" })
    }

    /// Ends the live playlist, after the MP4's trailer when the video is done, however the job
    /// ends; returns why the preview stopped early, if it did. No segment may still be draining.
    private func endLivePreview() -> MediaError? {
        defer {
            live = nil
            keeper = nil
        }
        // The kept video's last, partial segment is never a checkpoint: it is not cut.
        live?.finish()
        return live?.failure
    }

    private func release() {
        // A segment may still be draining into the muxers, however the job ends.
        try? sink?.waitForDrain()
        sink = nil
        sound = nil
        _ = endLivePreview()
        if let format {
            if format.pointee.pb != nil { avio_closep(&format.pointee.pb) }
            avformat_free_context(format)
            self.format = nil
        }
        if codec != nil { avcodec_free_context(&codec) }
        if frame != nil { av_frame_free(&frame) }
        if packet != nil { av_packet_free(&packet) }
        if let scaler {
            sws_freeContext(scaler)
            self.scaler = nil
        }
    }
}

/// Makes ``FFmpegVideoEncoder``s with fixed settings.
public struct FFmpegEncoderFactory: VideoEncoderFactory {
    public var settings: EncoderSettings

    public init(settings: EncoderSettings = .init()) { self.settings = settings }

    public func makeEncoder(path: String, size: FrameSize, fps: Int, live: LivePreview?) throws(MediaError) -> any VideoEncoder {
        try FFmpegVideoEncoder(path: path, size: size, fps: fps, settings: settings, livePreview: live)
    }

    public func makeEncoder(
        path: String, size: FrameSize, fps: Int, live: LivePreview?, kept: KeptSegments?, prefix: EncodedPrefix?
    ) throws(MediaError) -> any VideoEncoder {
        try FFmpegVideoEncoder(path: path, size: size, fps: fps, settings: settings, livePreview: live, kept: kept, prefix: prefix)
    }

    public func makeEncoder(
        path: String, size: FrameSize, fps: Int, live: LivePreview?, kept: KeptSegments?, prefix: EncodedPrefix?, audio: AudioFormat?
    ) throws(MediaError) -> any VideoEncoder {
        try FFmpegVideoEncoder(
            path: path, size: size, fps: fps, settings: settings, livePreview: live, kept: kept, prefix: prefix, audio: audio)
    }

    public var keepsSegments: Bool { true }
    public var makesSound: Bool { true }
}

extension UnsafeMutablePointer where Pointee == AVCodecContext {
    /// The stream headers an opened encoder gives the container (H.264's SPS and PPS).
    fileprivate var streamHeaders: Data {
        guard let bytes = pointee.extradata, pointee.extradata_size > 0 else { return Data() }
        return Data(bytes: bytes, count: Int(pointee.extradata_size))
    }
}
