import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolClient
import SpoolCore
import SpoolTesting
import Testing

/// The videos API driven by the official `openai` Python package against a real `spool serve`:
/// what a script written for vLLM-Omni or OpenAI does, unchanged, and the MP4 it downloads
/// checked with ffprobe.
@Suite("Videos API (openai SDK), end to end", .serialized, .enabled(if: PythonTools.isAvailable() && MediaProbe.toolsAvailable))
struct VideosAPITests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Videos/openai_client.py").path

    @Test func theOpenAIClientCreatesPollsDownloadsListsAndDeletes() async throws {
        let dir = try TemporaryDirectory("videos-api")
        defer { dir.remove() }
        let daemon = try DaemonProcess(
            arguments: [
                "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "2", "--pipelines", ConditioningTests.pipelines,
                "--preset", "ultrafast", "--listen", "127.0.0.1:0", "--no-drop-folder", "--max-image-mib", "2",
            ],
            log: dir.file("daemon.log"), environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
        defer { daemon.stop() }
        let url = try await daemon.httpURL()
        let size = FrameSize(width: 128, height: 96)
        try MediaFiles.write([MediaFiles.picture(size, index: 3)], size: size, to: dir.file("start.png"))

        let python = try #require(PythonTools.python)
        let folder = dir.path
        let run = try await onThread { try runProcess([python, Self.script, url, folder, folder + "/start.png"]) }
        try #require(run.status == 0, "the openai client failed: \(run.stderr)")
        let seen = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])
        func object(_ key: String) -> [String: Any] { seen[key] as? [String: Any] ?? [:] }

        // create_and_poll: completed, with the fields the SDK models.
        let created = object("created")
        #expect(created["status"] as? String == "completed" && created["progress"] as? Int == 100)
        #expect(created["object"] as? String == "video" && created["model"] as? String == "synthetic")
        #expect(created["seconds"] as? String == "2" && created["size"] as? String == "128x96")
        #expect((created["completed_at"] as? Int ?? 0) >= (created["created_at"] as? Int ?? .max))
        // download_content: the MP4 is what was asked for; the thumbnail is the poster.
        let video = dir.file("video.mp4")
        let probe = try await onThread { try MediaProbe(path: video) }
        #expect(probe.codec == "h264" && probe.width == 128 && probe.height == 96 && probe.frames == 48 && probe.frameRate == "24/1")
        let thumbnail = try Data(contentsOf: URL(fileURLWithPath: dir.file("thumbnail.png")))
        #expect(thumbnail.starts(with: [0x89, 0x50, 0x4E, 0x47]))

        // input_reference became the job's image, and the video starts from it.
        let image = object("image")
        #expect(object("image_started")["status"] as? String == "queued")
        #expect(image["status"] as? String == "completed" && image["seconds"] as? String == "1")
        let client = SpoolClient(server: URL(string: url)!)
        let job = try await client.job(try #require(image["id"] as? String))
        #expect(job.spec.image?.width == 128 && job.spec.image?.height == 96)

        // vLLM-Omni's num_frames, seed and negative_prompt reached the job.
        let extra = object("extra")
        #expect(extra["seconds"] as? String == "1.25" && extra["status"] as? String == "completed")

        // list pages oldest first through every video; newest first, two a page, says there is more.
        let ids = [created["id"], image["id"], extra["id"]].compactMap { $0 as? String }
        #expect(seen["listed_asc"] as? [String] == ids)
        #expect((object("first_page")["ids"] as? [String]) == [ids[2], ids[1]] && object("first_page")["has_more"] as? Bool == true)

        // A refusal names its field in the message the SDK shows.
        let refused = object("refused")
        #expect(refused["status"] as? Int == 422)
        #expect((refused["message"] as? String)?.contains("seconds is \"61\"") == true, "\(refused)")

        // delete removes the video, its record and its files.
        #expect(object("deleted")["deleted"] as? Bool == true && object("deleted")["object"] as? String == "video.deleted")
        #expect(seen["after_delete"] as? Int == 404)
        #expect(!FileManager.default.fileExists(atPath: dir.file("data/videos/\(ids[2]).mp4")))
        #expect(FileManager.default.fileExists(atPath: dir.file("data/videos/\(ids[0]).mp4")))
    }

    @Test func aVideoThatIsNotDoneCannotBeDeletedAndSaysWhy() async throws {
        let dir = try TemporaryDirectory("videos-busy")
        defer { dir.remove() }
        let gate = try WorkerGate()
        let daemon = try DaemonProcess.onOneSlot(
            dir, pipelines: ConditioningTests.pipelines, environment: ["SPOOL_SYNTHETIC_GATE": gate.environmentValue(fromChunk: 0)])
        defer { daemon.stop() }
        let base = try await daemon.httpURL()
        let (created, _) = try await Self.send("POST", base + "/v1/videos", json: ["prompt": "a fox", "seconds": "1", "size": "128x96"])
        let id = try #require(created["id"] as? String)
        #expect(created["status"] as? String == "queued")
        try await until("the video is in progress") { try await Self.send("GET", base + "/v1/videos/\(id)").0["status"] as? String == "in_progress" }
        let (refused, status) = try await Self.send("DELETE", base + "/v1/videos/\(id)")
        #expect(status == 409 && ((refused["error"] as? [String: Any])?["message"] as? String)?.contains("cancel it first") == true)
        gate.open()
        try await until("the video is completed") { try await Self.send("GET", base + "/v1/videos/\(id)").0["status"] as? String == "completed" }
        #expect(try await Self.send("DELETE", base + "/v1/videos/\(id)").1 == 200)
        // Bad JSON fields each say what is wrong.
        let (bad, badStatus) = try await Self.send("POST", base + "/v1/videos", json: ["prompt": "x", "size": "big", "seconds": "4.5", "loop": true, "num_frames": "96"])
        #expect(badStatus == 422)
        let fields = Set(((bad["error"] as? [String: Any])?["issues"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
        #expect(fields == ["size", "seconds", "loop", "num_frames"])
    }

    static func send(_ method: String, _ url: String, json: [String: Any]? = nil) async throws -> ([String: Any], Int) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:], (response as? HTTPURLResponse)?.statusCode ?? 0)
    }
}
