import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SpoolCore
import SpoolMedia
import SpoolScheduler

/// A job's live preview over plain HTTP: the HLS event playlist its encoder writes beside
/// the MP4, playable by any HLS player (Safari, hls.js, ffplay, VLC) while the job runs.
extension SpoolAPI {
    func addLiveRoutes(to router: Router<Context>) {
        router.get("/v1/jobs/:id/live.m3u8") { _, context in try await livePlaylist(context) }
        router.get("/v1/jobs/:id/live/:name") { _, context in try await liveFile(context) }
    }

    func livePlaylist(_ context: Context) async throws -> Response {
        let job = try await job(context)
        let path = liveFolder(job) + "/" + LivePreview.playlistName
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            // A job still to run, or not past its first segment: a playlist with nothing in it
            // yet, which a player polls until segments come (RFC 8216 §6.3.4).
            guard host.configuration.livePreview, !job.state.isFinal else { throw noPreview(job) }
            return Response(
                status: .ok, headers: [.contentType: "application/vnd.apple.mpegurl", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(string: "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n")))
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/vnd.apple.mpegurl", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: Self.servedPlaylist(text))))
    }

    func liveFile(_ context: Context) async throws -> Response {
        let job = try await job(context)
        let name = try context.parameters.require("name")
        guard LivePreview.isFileName(name), name != LivePreview.playlistName,
              let data = FileManager.default.contents(atPath: liveFolder(job) + "/" + name)
        else { throw APIError(.notFound, "segment_not_found", "job \(job.id)'s live preview has no \(name)") }
        return Response(
            status: .ok,
            headers: [.contentType: name.hasSuffix(".m4s") ? "video/iso.segment" : "video/mp4", .cacheControl: "max-age=3600"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The preview of the job's current (or last) attempt, on whichever host ran it: each
    /// attempt writes its own, so a stale attempt's segments are never served as the job's.
    func liveFolder(_ job: Job) -> String {
        host.configuration.data.live(job.id, host: job.host ?? host.configuration.host, attempt: job.attempts)
    }

    /// Why there is no playlist: 410 for a job that has ended (its preview, if it had one, is
    /// over and removed; the job itself is still there), 404 where previews are off.
    func noPreview(_ job: Job) -> APIError {
        guard host.configuration.livePreview else {
            return APIError(.notFound, "no_live_preview", "job \(job.id) has no live preview: live previews are off on this host (--live-preview off)")
        }
        return APIError(
            .gone, "live_preview_gone",
            "job \(job.id) has ended; a live preview is removed \(Int(host.configuration.liveRetentionSeconds / 60)) minutes after its job ends, and its MP4 is at /v1/jobs/\(job.id)/video")
    }

    /// The playlist as the muxer wrote it, with its files' URIs under `live/` (relative to
    /// `/v1/jobs/{id}/live.m3u8`) and a target duration no segment exceeds (RFC 8216 §4.3.3.1).
    static func servedPlaylist(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let longest = lines.compactMap { line -> Double? in
            guard line.hasPrefix("#EXTINF:") else { return nil }
            return Double(line.dropFirst(8).split(separator: ",").first ?? "")
        }.max() ?? 0
        return lines.map { line in
            if line.hasPrefix("#EXT-X-MAP:URI=\"") { return line.replacingOccurrences(of: "URI=\"", with: "URI=\"live/") }
            if line.hasPrefix("#EXT-X-TARGETDURATION:") { return "#EXT-X-TARGETDURATION:\(max(1, Int(longest.rounded(.up))))" }
            if !line.isEmpty && !line.hasPrefix("#") { return "live/" + line }
            return line
        }.joined(separator: "\n")
    }
}
