import CFFmpeg
import Foundation
import SpoolCore
import SpoolSupport

/// Where and how a job's video is also written as a live HLS playlist while it encodes.
public struct LivePreview: Sendable, Hashable {
    /// The folder of `live.m3u8`, `init.mp4` and `seg00000.m4s`, … (created when missing).
    public var folder: String
    /// Frames a segment holds: the pipeline's chunk, so a segment comes with each chunk.
    public var segmentFrames: Int

    public static let playlistName = "live.m3u8"
    public static let initName = "init.mp4"

    public init(folder: String, segmentFrames: Int) {
        self.folder = folder
        self.segmentFrames = max(1, segmentFrames)
    }

    /// The name of segment `index`.
    public static func segmentName(_ index: Int) -> String { String(format: "seg%05d.m4s", index) }

    /// Whether `name` is a file a live preview writes (and so may be served from its folder).
    public static func isFileName(_ name: String) -> Bool {
        name == playlistName || name == initName
            || (name.hasPrefix("seg") && name.hasSuffix(".m4s") && name.dropFirst(3).dropLast(4).allSatisfy(\.isASCII)
                && name.dropFirst(3).dropLast(4).allSatisfy(\.isNumber) && name.count <= 16)
    }
}

/// An HLS event playlist (RFC 8216) of fragmented-MP4 segments, as text: the pure half of
/// ``LivePreviewMuxer``.
struct LivePlaylist: Hashable {
    /// Each segment's playing time, in seconds, in order.
    var durations: [Double] = []
    var ended = false
    /// The longest a segment is meant to be; the target duration is at least this.
    var nominalSeconds: Double

    var text: String {
        // §4.3.3.1: every EXTINF, rounded to the nearest integer, is at most the target.
        let target = max(1, Int(nominalSeconds.rounded(.up)), durations.map { Int($0.rounded()) }.max() ?? 0)
        var lines = [
            "#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:\(target)", "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-MAP:URI=\"\(LivePreview.initName)\"",
        ]
        for (index, seconds) in durations.enumerated() {
            lines.append(String(format: "#EXTINF:%.6f,", seconds))
            lines.append(LivePreview.segmentName(index))
        }
        if ended { lines.append("#EXT-X-ENDLIST") }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The second muxer of an encoder with a live preview: libavformat's MP4 muxer in fragmented
/// mode (`frag_custom`), fed the very packets the MP4 gets (no second encode), cut into one
/// segment whenever the encoder ends one (``cut()``), with the playlist written here.
///
/// Why not libavformat's HLS muxer: it closes a segment only when the next segment's
/// keyframe arrives, so a chunk's segment was listed once the *next* chunk had been encoded,
/// 1.68 s after its chunk at a real-time pace (`spool-bench live`, round 2). Cutting where the
/// encoder ends a segment lists it as soon as its last packet is out.
///
/// Every file is written whole and renamed into place, so a player never reads half a
/// segment or half a playlist. A failure here never fails the job: the preview stops
/// (``failure`` says why) and the MP4 goes on.
final class LivePreviewMuxer {
    let preview: LivePreview
    /// Every file is synced before it is renamed into place, and its folder after (a kept
    /// video a later attempt goes on from; a preview needs no such care).
    private let durable: Bool
    /// Called after each segment is written (and durable, when ``durable``): segments and
    /// frames written in all.
    private let onCut: (@Sendable (_ segments: Int, _ frames: Int) -> Void)?
    /// Frames (packets) written since the last cut, and in all the segments cut.
    private var pendingFrames = 0
    private var framesCut = 0
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    /// The sound's stream, second as in the MP4, when the video has sound.
    private var audioStream: UnsafeMutablePointer<AVStream>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var playlist: LivePlaylist
    /// Playing time of the packets written since the last cut, in the stream's time base.
    private var pendingTicks: Int64 = 0
    /// The same for the sound's packets, in its stream's time base. The sound's last packets
    /// come after the video's last segment is cut (the AAC encoder is flushed at the end): they
    /// make a last, short segment of their own, or the preview would end 3,700 samples early.
    private var pendingAudioTicks: Int64 = 0
    private(set) var failure: MediaError?

    /// Opens the preview for the stream `codec` makes (opened already, extradata set), and the
    /// sound `audio` makes when given, and writes its initialisation segment.
    init(
        _ preview: LivePreview, codec: UnsafeMutablePointer<AVCodecContext>, audio: UnsafeMutablePointer<AVCodecContext>? = nil,
        fps: Int, durable: Bool = false, onCut: (@Sendable (_ segments: Int, _ frames: Int) -> Void)? = nil
    ) {
        self.preview = preview
        self.durable = durable
        self.onCut = onCut
        self.playlist = LivePlaylist(nominalSeconds: Double(preview.segmentFrames) / Double(fps))
        do {
            try open(codec: codec, audio: audio)
        } catch {
            stop(error)
        }
    }

    /// The initialisation segment a preview of the stream `codec` makes starts with: what
    /// says whether two encoders' packets can share one stream.
    static func initialisationSegment(codec: UnsafeMutablePointer<AVCodecContext>) throws(MediaError) -> Data {
        let muxer = LivePreviewMuxer(codec: codec)
        defer { muxer.release() }
        try muxer.openMuxer(codec: codec)
        return muxer.takeBuffer()
    }

    private init(codec: UnsafeMutablePointer<AVCodecContext>) {
        preview = LivePreview(folder: "", segmentFrames: 1)
        durable = false
        onCut = nil
        playlist = LivePlaylist(nominalSeconds: 1)
    }

    private func open(codec: UnsafeMutablePointer<AVCodecContext>, audio: UnsafeMutablePointer<AVCodecContext>?) throws(MediaError) {
        try? FileManager.default.createDirectory(atPath: preview.folder, withIntermediateDirectories: true)
        try openMuxer(codec: codec, audio: audio)
        try write(takeBuffer(), to: LivePreview.initName)
        try writePlaylist()
        try check(avio_open_dyn_buf(&format!.pointee.pb), "avio_open_dyn_buf")
    }

    /// Opens the fragmented-MP4 muxer into a memory buffer and writes its header there.
    private func openMuxer(codec: UnsafeMutablePointer<AVCodecContext>, audio: UnsafeMutablePointer<AVCodecContext>? = nil) throws(MediaError) {
        try check(avformat_alloc_output_context2(&format, nil, "mp4", nil), "avformat_alloc_output_context2(mp4, fragmented)")
        guard let format, let newStream = avformat_new_stream(format, nil), let newPacket = av_packet_alloc() else {
            throw MediaError("allocating the live preview", code: spool_averror(ENOMEM), message: "out of memory")
        }
        stream = newStream
        packet = newPacket
        try check(avcodec_parameters_from_context(newStream.pointee.codecpar, codec), "avcodec_parameters_from_context(live)")
        newStream.pointee.time_base = codec.pointee.time_base
        newStream.pointee.avg_frame_rate = codec.pointee.framerate
        if let audio {
            guard let sound = avformat_new_stream(format, nil) else {
                throw MediaError("allocating the live preview's sound", code: spool_averror(ENOMEM), message: "out of memory")
            }
            audioStream = sound
            try check(avcodec_parameters_from_context(sound.pointee.codecpar, audio), "avcodec_parameters_from_context(live audio)")
            sound.pointee.time_base = audio.pointee.time_base
        }
        // empty_moov: the header is the whole initialisation segment (ftyp, moov with mvex);
        // frag_custom: a fragment (moof, mdat) is written only when cut() asks;
        // default_base_moof: each fragment's offsets are its own, as a standalone segment needs.
        var options = FFmpegOptions([("movflags", "+frag_custom+empty_moov+default_base_moof")])
        defer { options.free() }
        try check(avio_open_dyn_buf(&format.pointee.pb), "avio_open_dyn_buf")
        try check(avformat_write_header(format, &options.pointer), "writing the live preview's header")
    }

    /// Writes a copy of `source` (in `timeBase`), which the caller still owns: a video packet,
    /// or the sound's (stream 1, as in the MP4).
    func write(_ source: UnsafeMutablePointer<AVPacket>, timeBase: AVRational) {
        guard failure == nil, let format, let stream, let packet else { return }
        let isAudio = source.pointee.stream_index != 0
        guard !isAudio || audioStream != nil else { return }
        let target = isAudio ? audioStream! : stream
        do {
            try check(av_packet_ref(packet, source), "av_packet_ref")
            packet.pointee.stream_index = target.pointee.index
            av_packet_rescale_ts(packet, timeBase, target.pointee.time_base)
            if isAudio {
                pendingAudioTicks += packet.pointee.duration
            } else {
                pendingTicks += packet.pointee.duration
                pendingFrames += 1
            }
            let written = av_write_frame(format, packet)
            av_packet_unref(packet)
            try check(written, "writing a live segment")
        } catch {
            stop(error)
        }
    }

    /// Ends the current segment with the packets written since the last cut, writes it and
    /// lists it. Call it once the encoder has given out every packet of the segment's frames.
    func cut() {
        guard failure == nil, pendingTicks > 0 || pendingAudioTicks > 0, let format, let stream else { return }
        do {
            try check(av_write_frame(format, nil), "ending a live segment")
            let name = LivePreview.segmentName(playlist.durations.count)
            try write(takeBuffer(), to: name)
            try check(avio_open_dyn_buf(&format.pointee.pb), "avio_open_dyn_buf")
            let seconds = pendingTicks > 0
                ? Double(pendingTicks) * av_q2d(stream.pointee.time_base)
                : Double(pendingAudioTicks) * av_q2d(audioStream?.pointee.time_base ?? stream.pointee.time_base)
            playlist.durations.append(seconds)
            pendingTicks = 0
            pendingAudioTicks = 0
            framesCut += pendingFrames
            pendingFrames = 0
            try writePlaylist()
            onCut?(playlist.durations.count, framesCut)
        } catch {
            stop(error)
        }
    }

    /// Lists what is left and ends the playlist (`#EXT-X-ENDLIST`): the job is over, however
    /// it ended.
    func finish() {
        cut()
        guard failure == nil else { return release() }
        playlist.ended = true
        do { try writePlaylist() } catch { failure = error }
        release()
    }

    /// The bytes written to the muxer's buffer since it was opened; closes the buffer.
    private func takeBuffer() -> Data {
        guard let format else { return Data() }
        var bytes: UnsafeMutablePointer<UInt8>?
        let count = avio_close_dyn_buf(format.pointee.pb, &bytes)
        format.pointee.pb = nil
        defer { av_free(bytes) }
        guard let bytes, count > 0 else { return Data() }
        return Data(bytes: bytes, count: Int(count))
    }

    private func writePlaylist() throws(MediaError) {
        try write(Data(playlist.text.utf8), to: LivePreview.playlistName)
    }

    /// Writes `data` to `name` in the preview's folder whole: to a temporary name, then renamed.
    private func write(_ data: Data, to name: String) throws(MediaError) {
        let path = preview.folder + "/" + name
        do {
            if durable {
                try writeDurably(data, to: path)
            } else {
                try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            }
        } catch {
            throw MediaError("writing \(path)", code: spool_averror(EIO), message: "\(error)")
        }
    }

    private func stop(_ error: MediaError) {
        failure = error
        release()
    }

    private func release() {
        if let format {
            // The muxer's trailer would only repeat what the segments hold; its buffer is freed
            // unread.
            if format.pointee.pb != nil { _ = takeBuffer() }
            avformat_free_context(format)
            self.format = nil
        }
        if packet != nil { av_packet_free(&packet) }
    }

    deinit { release() }
}
