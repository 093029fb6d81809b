import CFFmpeg
import Foundation
import SpoolCore

/// Where an ``FFmpegVideoEncoder``'s packets go, in decode order: the MP4 muxer and the
/// segment muxers (a live preview, a kept video), each cut at every segment's end.
///
/// At a live segment's end the encoder hands its encoder instance over to be drained here on
/// a thread of its own (``drainInBackground(_:)``) and goes on with a fresh one at once. The
/// fresh one's packets are held until the old one's last packet is written and the segment
/// cut, so the order is kept. Why a thread: draining x264 in line empties its pipeline (its
/// frame threads and 20 frames of look-ahead) 44 times in a minute of video. That cost
/// 15.7 % of the encode time against the encoder without a preview (`spool-bench live`,
/// 12.462 s against 10.771 s); draining beside the next segment's frames keeps both cores
/// busy.
///
/// A video with sound has a second stream, the AAC track: its packets go the same way, held
/// behind a draining encoder as the video's are, so each muxer gets them in the order made.
/// `@unchecked Sendable`: its queue and flags live under `condition`; the muxer is touched by
/// one thread at a time, handed over under that lock.
final class PacketSink: @unchecked Sendable {
    private let format: UnsafeMutablePointer<AVFormatContext>
    private let stream: UnsafeMutablePointer<AVStream>
    private let timeBase: AVRational
    /// The sound's stream and its encoder's time base (1/sample rate), when the video has sound.
    private let audio: (stream: UnsafeMutablePointer<AVStream>, timeBase: AVRational)?
    private let segmenters: [LivePreviewMuxer]
    private let path: String

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var draining = false
    private var held: [UnsafeMutablePointer<AVPacket>] = []
    private var failure: MediaError?

    /// `timeBase` is the encoders' (1/fps).
    init(
        format: UnsafeMutablePointer<AVFormatContext>, stream: UnsafeMutablePointer<AVStream>, timeBase: AVRational,
        audio: (stream: UnsafeMutablePointer<AVStream>, timeBase: AVRational)? = nil,
        segmenters: [LivePreviewMuxer], path: String
    ) {
        self.format = format
        self.stream = stream
        self.timeBase = timeBase
        self.audio = audio
        self.segmenters = segmenters
        self.path = path
    }

    /// Writes a packet of a kept video (an earlier attempt's, demuxed, in the encoders' time
    /// base) as if the encoder had just made it. No encoder may be draining.
    func writeKept(_ packet: UnsafeMutablePointer<AVPacket>) throws(MediaError) {
        packet.pointee.stream_index = stream.pointee.index
        packet.pointee.duration = 1
        av_packet_rescale_ts(packet, timeBase, stream.pointee.time_base)
        condition.lock()
        defer { condition.unlock() }
        try write(packet)
    }

    /// Ends a segment of a kept video at once (no encoder is draining).
    func cutKept() {
        condition.lock()
        defer { condition.unlock() }
        for segmenter in segmenters { segmenter.cut() }
    }

    /// Takes every packet `codec` has ready (all of them once it is flushed) and writes it,
    /// or holds a copy while an earlier encoder is still draining.
    func drain(_ codec: UnsafeMutablePointer<AVCodecContext>, into packet: UnsafeMutablePointer<AVPacket>) throws(MediaError) {
        try drain(codec, into: packet, holding: true)
    }

    /// Flushes `codec` and drains it on a thread of its own, then cuts the live segment and
    /// frees `codec`. The caller must not touch `codec` again.
    func drainInBackground(_ codec: UnsafeMutablePointer<AVCodecContext>) throws(MediaError) {
        try waitForDrain()
        condition.withLock { draining = true }
        let handle = UncheckedPointer(codec)
        let thread = Thread { [self] in
            var codec: UnsafeMutablePointer<AVCodecContext>? = handle.pointer
            var packet = av_packet_alloc()
            var failure: MediaError?
            do throws(MediaError) {
                guard let packet else { throw MediaError("av_packet_alloc", code: spool_averror(ENOMEM), message: "out of memory") }
                try check(avcodec_send_frame(codec, nil), "flushing the encoder at the end of a live segment")
                try drain(codec!, into: packet, holding: false)
            } catch {
                failure = error
            }
            av_packet_free(&packet)
            avcodec_free_context(&codec)
            finishDrain(failure)
        }
        thread.name = "spool-encoder-drain"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Waits until no encoder is draining in the background; throws what went wrong there.
    func waitForDrain() throws(MediaError) {
        condition.lock()
        defer { condition.unlock() }
        while draining { condition.wait() }
        if let failure { throw failure }
    }

    /// Takes every packet the sound's encoder has ready and writes it, or holds a copy while a
    /// video encoder is draining. Its packets keep the durations the encoder gave them (the
    /// last one's is short: the track ends with the video's last sample).
    func drainAudio(_ codec: UnsafeMutablePointer<AVCodecContext>, into packet: UnsafeMutablePointer<AVPacket>) throws(MediaError) {
        try drain(codec, into: packet, holding: true, audio: true)
    }

    private func drain(
        _ codec: UnsafeMutablePointer<AVCodecContext>, into packet: UnsafeMutablePointer<AVPacket>, holding: Bool, audio isAudio: Bool = false
    ) throws(MediaError) {
        while true {
            let status = avcodec_receive_packet(codec, packet)
            if status == spool_averror_eagain() || status == spool_averror_eof() { return }
            try check(status, "receiving a packet from the \(isAudio ? "audio " : "")encoder")
            if isAudio, let audio {
                packet.pointee.stream_index = audio.stream.pointee.index
                av_packet_rescale_ts(packet, audio.timeBase, audio.stream.pointee.time_base)
            } else {
                packet.pointee.stream_index = stream.pointee.index
                // Every frame lasts one tick; without this the MP4's last frame has no duration.
                packet.pointee.duration = 1
                av_packet_rescale_ts(packet, timeBase, stream.pointee.time_base)
            }
            condition.lock()
            defer { condition.unlock() }
            if let failure { throw failure }
            if holding && draining {
                guard let copy = av_packet_clone(packet) else {
                    throw MediaError("av_packet_clone", code: spool_averror(ENOMEM), message: "out of memory")
                }
                held.append(copy)
                av_packet_unref(packet)
            } else {
                try write(packet)
            }
        }
    }

    /// The background drain is over: the segment is cut and the held packets written.
    private func finishDrain(_ failure: MediaError?) {
        condition.lock()
        defer { condition.unlock() }
        var failure = failure
        if failure == nil { for segmenter in segmenters { segmenter.cut() } }
        for packet in held {
            if failure == nil {
                do throws(MediaError) { try write(packet) } catch { failure = error }
            }
            var owned: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&owned)
        }
        held = []
        if let failure, self.failure == nil { self.failure = failure }
        draining = false
        condition.broadcast()
    }

    /// Writes `packet` (unreferenced after) to both muxers. Called with the lock held.
    private func write(_ packet: UnsafeMutablePointer<AVPacket>) throws(MediaError) {
        let timeBase = packet.pointee.stream_index == stream.pointee.index ? stream.pointee.time_base : audio!.stream.pointee.time_base
        for segmenter in segmenters { segmenter.write(packet, timeBase: timeBase) }
        let written = av_interleaved_write_frame(format, packet)
        av_packet_unref(packet)
        try check(written, "writing a packet to \(path)")
    }

    deinit {
        for packet in held {
            var owned: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&owned)
        }
    }
}

/// A pointer handed to the drain thread, which becomes its only user.
private struct UncheckedPointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
