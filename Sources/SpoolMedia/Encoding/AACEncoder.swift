import CFFmpeg
import SpoolCore

/// A video's sound: interleaved float samples in, AAC packets out (libavcodec's own `aac`
/// encoder, AAC-LC), written through the video's ``PacketSink`` as its second stream.
///
/// Samples are sent in the encoder's frames (1,024 a channel) as they accumulate; the last,
/// short frame is sent as it is, and the encoder gives its packet that many samples of
/// duration, so the track holds exactly the samples given: as long as the video, to the sample.
/// The encoder's start-up delay (1,024 priming samples) is written by the MP4 muxer as an edit
/// list, so a player starts the sound with the first frame.
/// Not thread-safe: driven by the video encoder's thread.
final class AACEncoder {
    let format: AudioFormat
    private(set) var codec: UnsafeMutablePointer<AVCodecContext>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    /// Interleaved samples not yet sent, from `pendingStart` on (fewer than a frame's after each ``add(_:sink:)``).
    private var pending: [Float] = []
    private var pendingStart = 0
    private var samplesSent: Int64 = 0
    /// Samples (per channel) given in all.
    private(set) var samplesIn = 0

    /// AAC-LC's usual rate for clean speech and music: 64 kb/s a channel.
    static let bitsPerSecondPerChannel = 64_000

    init(format: AudioFormat, globalHeader: Bool) throws(MediaError) {
        self.format = format
        do {
            try open(globalHeader: globalHeader)
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    private func open(globalHeader: Bool) throws(MediaError) {
        guard let encoder = avcodec_find_encoder_by_name("aac") else {
            throw MediaError("avcodec_find_encoder_by_name(aac)", code: spool_averror_encoder_not_found(),
                             message: "this FFmpeg build has no aac encoder, so it cannot write a video's sound")
        }
        guard let context = avcodec_alloc_context3(encoder) else {
            throw MediaError("allocating the audio encoder", code: spool_averror(ENOMEM), message: "out of memory")
        }
        codec = context
        context.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        context.pointee.sample_rate = Int32(format.sampleRate)
        av_channel_layout_default(&context.pointee.ch_layout, Int32(format.channels))
        context.pointee.bit_rate = Int64(Self.bitsPerSecondPerChannel * format.channels)
        context.pointee.time_base = AVRational(num: 1, den: Int32(format.sampleRate))
        if globalHeader { context.pointee.flags |= spool_codec_flag_global_header() }
        try check(avcodec_open2(context, encoder, nil), "opening the aac encoder")
        guard let newFrame = av_frame_alloc(), let newPacket = av_packet_alloc() else {
            throw MediaError("allocating the audio encoder", code: spool_averror(ENOMEM), message: "out of memory")
        }
        frame = newFrame
        packet = newPacket
    }

    /// Takes `samples` (interleaved, a whole number of sample frames) and sends every full
    /// encoder frame they complete.
    func add(_ samples: UnsafeBufferPointer<Float>, sink: PacketSink) throws(MediaError) {
        precondition(samples.count % format.channels == 0, "interleaved samples come in whole sample frames")
        pending.append(contentsOf: samples)
        samplesIn += samples.count / format.channels
        guard let codec else { return }
        let frameSize = Int(codec.pointee.frame_size)
        while (pending.count - pendingStart) / format.channels >= frameSize {
            try send(frameSize, sink: sink)
        }
        if pendingStart > 0 {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }

    /// Sends what is left (a short last frame), flushes the encoder and writes its last packets.
    func finish(sink: PacketSink) throws(MediaError) {
        guard let codec, let packet else { return }
        let left = (pending.count - pendingStart) / format.channels
        if left > 0 { try send(left, sink: sink) }
        pending = []
        pendingStart = 0
        try check(avcodec_send_frame(codec, nil), "flushing the aac encoder")
        try sink.drainAudio(codec, into: packet)
    }

    /// Sends `count` samples a channel from the pending ones, de-interleaved into the frame's planes.
    private func send(_ count: Int, sink: PacketSink) throws(MediaError) {
        guard let codec, let frame, let packet else { return }
        av_frame_unref(frame)
        frame.pointee.nb_samples = Int32(count)
        frame.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        frame.pointee.sample_rate = codec.pointee.sample_rate
        try check(av_channel_layout_copy(&frame.pointee.ch_layout, &codec.pointee.ch_layout), "av_channel_layout_copy")
        try check(av_frame_get_buffer(frame, 0), "allocating an audio frame")
        let channels = format.channels
        pending.withUnsafeBufferPointer { source in
            for channel in 0..<channels {
                let plane = UnsafeMutableRawPointer(frame.pointee.extended_data[channel]!).assumingMemoryBound(to: Float.self)
                var at = pendingStart + channel
                for index in 0..<count {
                    plane[index] = source[at]
                    at += channels
                }
            }
        }
        pendingStart += count * channels
        frame.pointee.pts = samplesSent
        samplesSent += Int64(count)
        try check(avcodec_send_frame(codec, frame), "sending samples to the aac encoder")
        try sink.drainAudio(codec, into: packet)
    }

    private func release() {
        if codec != nil { avcodec_free_context(&codec) }
        if frame != nil { av_frame_free(&frame) }
        if packet != nil { av_packet_free(&packet) }
    }
}
