import CFFmpeg
import Foundation
import SpoolCore

/// Where an encoder keeps the video it makes, segment by segment, for a later attempt to go on
/// from: fragmented MP4 (`init.mp4`, `seg00000.m4s`, …, as a live preview lays them out), each
/// file synced before it is named, a segment a chunk. The same packets as the MP4's, cut at
/// the same places as the live preview's: no second encode.
public struct KeptSegments: Sendable {
    public var folder: String
    /// Frames a segment holds: the pipeline's chunk stride.
    public var segmentFrames: Int
    /// Called on an encoder thread once each segment is durable, with the segments and frames
    /// kept in all.
    public var onDurable: @Sendable (_ segments: Int, _ frames: Int) -> Void

    public init(folder: String, segmentFrames: Int, onDurable: @escaping @Sendable (_ segments: Int, _ frames: Int) -> Void) {
        self.folder = folder
        self.segmentFrames = max(1, segmentFrames)
        self.onDurable = onDurable
    }
}

/// A video an earlier attempt kept (``KeptSegments``): its first `segments` segments in
/// `folder`, `frames` frames in all. A new encoder writes them into its MP4 as they are (a
/// remux) and encodes on from frame `frames`.
public struct EncodedPrefix: Sendable, Hashable {
    public var folder: String
    public var segments: Int
    public var frames: Int

    public init(folder: String, segments: Int, frames: Int) {
        self.folder = folder
        self.segments = segments
        self.frames = frames
    }

    /// The files, in order: the initialisation segment, then each media segment.
    public var files: [String] {
        [folder + "/" + LivePreview.initName] + (0..<segments).map { folder + "/" + LivePreview.segmentName($0) }
    }

    /// The kept stream's packets, read whole (a minute of video is a few megabytes), with
    /// their timestamps in `timeBase` and the first frame's at 0.
    /// Throws when a file is missing or unreadable, or it holds other than `frames` frames of
    /// one video stream.
    func packets(in timeBase: AVRational, scratch: String) throws(MediaError) -> [UnsafeMutablePointer<AVPacket>] {
        // The segments joined are one fragmented MP4, which the MP4 demuxer reads as it is.
        var joined = Data()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw MediaError("reading the kept video", code: spool_averror(ENOENT), message: "\(file) is missing or unreadable")
            }
            joined.append(data)
        }
        do {
            try joined.write(to: URL(fileURLWithPath: scratch))
        } catch {
            throw MediaError("reading the kept video", code: spool_averror(EIO), message: "cannot write \(scratch): \(error)")
        }
        defer { unlink(scratch) }
        var input: UnsafeMutablePointer<AVFormatContext>?
        try check(avformat_open_input(&input, scratch, nil, nil), "opening the kept video")
        defer { avformat_close_input(&input) }
        guard let input else { throw MediaError("opening the kept video", code: -1, message: "no context") }
        try check(avformat_find_stream_info(input, nil), "reading the kept video's stream")
        guard input.pointee.nb_streams == 1, let stream = input.pointee.streams[0],
              stream.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO
        else {
            throw MediaError("reading the kept video", code: -1, message: "it does not hold exactly one video stream")
        }
        var packets: [UnsafeMutablePointer<AVPacket>] = []
        var failed = true
        defer {
            if failed { for packet in packets { var owned: UnsafeMutablePointer<AVPacket>? = packet; av_packet_free(&owned) } }
        }
        while true {
            guard let packet = av_packet_alloc() else { throw MediaError("av_packet_alloc", code: spool_averror(ENOMEM), message: "out of memory") }
            let status = av_read_frame(input, packet)
            if status == spool_averror_eof() {
                var owned: UnsafeMutablePointer<AVPacket>? = packet
                av_packet_free(&owned)
                break
            }
            if status < 0 {
                var owned: UnsafeMutablePointer<AVPacket>? = packet
                av_packet_free(&owned)
                try check(status, "reading the kept video's packets")
            }
            av_packet_rescale_ts(packet, stream.pointee.time_base, timeBase)
            packets.append(packet)
            try Self.annexB(packet)
        }
        guard packets.count == frames else {
            throw MediaError("reading the kept video", code: -1, message: "it holds \(packets.count) frames; the checkpoint says \(frames)")
        }
        // The demuxer may shift the timeline by the stream's first decode delay: the first
        // frame shown is frame 0, as it was when encoded.
        let first = packets.map { $0.pointee.pts }.min() ?? 0
        for packet in packets {
            packet.pointee.pts -= first
            packet.pointee.dts -= first
        }
        failed = false
        return packets
    }

    /// Rewrites an H.264 packet as the MP4 holds it (each NAL unit after its 4-byte length)
    /// the way the encoder gives it out (each after a 4-byte start code), in place: the MP4
    /// muxer takes an encoder's packets as Annex B and converts them back, byte for byte.
    static func annexB(_ packet: UnsafeMutablePointer<AVPacket>) throws(MediaError) {
        guard av_packet_make_writable(packet) >= 0, let bytes = packet.pointee.data else {
            throw MediaError("reading the kept video", code: spool_averror(ENOMEM), message: "cannot rewrite a packet")
        }
        let size = Int(packet.pointee.size)
        var offset = 0
        while offset + 4 <= size {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length > 0, offset + 4 + length <= size else {
                throw MediaError("reading the kept video", code: -1, message: "a packet's NAL units do not add up to its size")
            }
            bytes[offset] = 0
            bytes[offset + 1] = 0
            bytes[offset + 2] = 0
            bytes[offset + 3] = 1
            offset += 4 + length
        }
        guard offset == size else {
            throw MediaError("reading the kept video", code: -1, message: "a packet's NAL units do not add up to its size")
        }
    }
}
