import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SpoolAPIModel
import SpoolCore
import SpoolTesting
import Testing

/// Image-to-video, video continuation and prompt schedules end to end: a real `spool serve`
/// on the shipped pipelines, each job coming in through HTTP multipart, the CLI and the drop
/// folder, and each MP4 decoded to check that its input shaped it (the synthetic worker
/// starts from the image or the clip's last frame, and paints each chunk its prompt's colour).
@Suite("Conditioning inputs, end to end", .serialized, .enabled(if: MediaProbe.toolsAvailable))
struct ConditioningTests {
    static let size = FrameSize(width: 128, height: 96)
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines").path

    /// A daemon on the shipped pipelines, and the files the jobs use.
    final class Setup: Sendable {
        let dir: TemporaryDirectory
        let daemon: DaemonProcess
        let url: String
        let image: String
        let imagePixels: [UInt8]
        let clip: String
        /// The clip as a decoder sees it (what Spool was given).
        let clipFrames: [[UInt8]]

        init() async throws {
            dir = try TemporaryDirectory("conditioning")
            image = dir.file("fox.png")
            imagePixels = MediaFiles.picture(ConditioningTests.size, index: 7)
            try MediaFiles.write([imagePixels], size: ConditioningTests.size, to: image)
            clip = dir.file("clip.mp4")
            try MediaFiles.write(
                (0..<40).map { MediaFiles.picture(ConditioningTests.size, index: $0 * 3) }, size: ConditioningTests.size, to: clip)
            clipFrames = try MediaFiles.decodeRGB(clip, size: ConditioningTests.size)
            daemon = try DaemonProcess(
                arguments: [
                    "--data", dir.file("data"), "--gpus", "none", "--virtual-slots", "2", "--pipelines", ConditioningTests.pipelines,
                    "--preset", "ultrafast", "--crf", "10", "--listen", "127.0.0.1:0", "--max-image-mib", "2",
                ],
                log: dir.file("daemon.log"), environment: ["SPOOL_SYNTHETIC_FRAME_COST_MS": "0"])
            url = try await daemon.httpURL()
        }

        func stop() {
            #expect(daemon.stop(), "the daemon ignored SIGTERM")
            dir.remove()
        }

        var data: String { dir.file("data") }
    }

    enum Door: String, CaseIterable, Sendable {
        case http, cli, dropFolder
    }

    /// A job of the given kind, submitted through `door`; returns the finished job as the
    /// door reports it (the HTTP resource, the CLI's JSON, the outbox's result file).
    func run(_ job: [String: Any], files: [String: String], door: Door, setup: Setup, name: String) async throws -> JobResource {
        switch door {
        case .http:
            let created = try await multipart(job, files: files, to: setup.url + "/v1/jobs")
            #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
            let resource = try JSONDecoder.spoolAPI.decode(JobResource.self, from: created.body)
            return try await waitUntilFinal(resource.id, setup: setup)
        case .cli:
            var arguments = [DaemonProcess.binary, "submit", "--wait", "--json", "--server", setup.url]
            let path = setup.dir.file("\(name).json")
            try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: path))
            arguments.append(path)
            for (field, file) in files { arguments += ["--\(field)", file] }
            let command = arguments
            let result = try await onThread { try runProcess(command, environment: ["SPOOL_SERVER": ""]) }
            #expect(result.status == 0, "\(result.stderr)")
            return try JSONDecoder.spoolAPI.decode(JobResource.self, from: result.stdout)
        case .dropFolder:
            let inbox = setup.data + "/inbox"
            var named = job
            for (field, file) in files {
                let base = "\(name)-\(URL(fileURLWithPath: file).lastPathComponent)"
                try FileManager.default.copyItem(atPath: file, toPath: setup.dir.file(base))
                #expect(rename(setup.dir.file(base), inbox + "/" + base) == 0)
                named[field] = base
            }
            let staging = setup.dir.file("\(name).json")
            try JSONSerialization.data(withJSONObject: named).write(to: URL(fileURLWithPath: staging))
            #expect(rename(staging, inbox + "/\(name).json") == 0)
            let result = setup.data + "/outbox/\(name).json"
            try await until("the drop folder wrote \(name)'s result", timeout: 120) { FileManager.default.fileExists(atPath: result) }
            return try JSONDecoder.spoolAPI.decode(JobResource.self, from: Data(contentsOf: URL(fileURLWithPath: result)))
        }
    }

    func waitUntilFinal(_ id: String, setup: Setup) async throws -> JobResource {
        var job: JobResource?
        try await until("job \(id) finished", timeout: 120) {
            let (data, _) = try await URLSession.shared.data(from: URL(string: setup.url + "/v1/jobs/\(id)")!)
            job = try JSONDecoder.spoolAPI.decode(JobResource.self, from: data)
            return job?.state.isFinal == true
        }
        return job!
    }

    /// POSTs a multipart/form-data job, built here by hand.
    func multipart(_ job: [String: Any], files: [String: String], to url: String) async throws -> (status: Int, body: Data) {
        let boundary = "test-\(UUID().uuidString)"
        var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"job\"\r\nContent-Type: application/json\r\n\r\n".utf8)
        body += try JSONSerialization.data(withJSONObject: job)
        for (field, file) in files {
            body += Data("\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"\(field)\"; filename=\"\(URL(fileURLWithPath: file).lastPathComponent)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            body += try Data(contentsOf: URL(fileURLWithPath: file))
        }
        body += Data("\r\n--\(boundary)--\r\n".utf8)
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.setValue("multipart/form-data; boundary=\(boundary)", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, data)
    }

    static func baseJob(frames: Int) -> [String: Any] {
        ["prompt": "a red fox in snow", "frames": frames, "width": size.width, "height": size.height, "seed": 5]
    }

    @Test("an image becomes the first frame", arguments: Door.allCases)
    func imageToVideo(door: Door) async throws {
        let setup = try await Setup()
        defer { setup.stop() }
        let job = try await run(Self.baseJob(frames: 40), files: ["image": setup.image], door: door, setup: setup, name: "i2v-\(door)")
        #expect(job.state == .succeeded, "\(job.error ?? "")")
        #expect(job.spec.image?.kind == .image && job.spec.image?.width == 128 && job.spec.image?.codec == "png")
        let video = try #require(job.videoPath)
        let frames = try MediaFiles.decodeRGB(video, size: Self.size)
        #expect(frames.count == 40)
        let psnr = MediaFiles.psnr(setup.imagePixels, frames[0])
        #expect(psnr > 35, "frame 0 against the image: \(psnr) dB")
        #expect(MediaFiles.psnr(setup.imagePixels, frames[39]) < 25, "the video moves on from it")
    }

    @Test("a clip is continued from its last frame, and included when asked", arguments: Door.allCases)
    func videoContinuation(door: Door) async throws {
        let setup = try await Setup()
        defer { setup.stop() }
        var spec = Self.baseJob(frames: 40)
        spec["includeInput"] = true
        let job = try await run(spec, files: ["video": setup.clip], door: door, setup: setup, name: "v2v-\(door)")
        #expect(job.state == .succeeded, "\(job.error ?? "")")
        #expect(job.spec.video?.frames == 40 && job.spec.includeInput)
        let frames = try MediaFiles.decodeRGB(try #require(job.videoPath), size: Self.size)
        #expect(frames.count == 80, "the 40-frame clip, then the 40 generated")
        for index in [0, 20, 39] {
            let psnr = MediaFiles.psnr(setup.clipFrames[index], frames[index])
            #expect(psnr > 35, "clip frame \(index): \(psnr) dB")
        }
        let joint = MediaFiles.psnr(setup.clipFrames[39], frames[40])
        #expect(joint > 35, "the first generated frame continues the clip's last: \(joint) dB")
    }

    @Test("a three-prompt schedule switches at the chunks it maps to", arguments: Door.allCases)
    func promptSchedule(door: Door) async throws {
        let setup = try await Setup()
        defer { setup.stop() }
        var spec = Self.baseJob(frames: 99)
        // 33-frame chunks at 24 FPS: 1.5 s is frame 36, in chunk 1 (33…65); 3 s is frame 72, in chunk 2.
        spec["prompts"] = [["at": 0, "prompt": "a red fox"], ["at": 1.5, "prompt": "the fox at a river"], ["at": 3, "prompt": "night falls"]]
        let job = try await run(spec, files: [:], door: door, setup: setup, name: "schedule-\(door)")
        #expect(job.state == .succeeded, "\(job.error ?? "")")
        #expect(job.spec.prompts?.count == 3)
        // 99 frames: the Helios trim would keep 97 of three chunks, so a fourth ran.
        #expect(job.progress.chunksDone == 4 && job.progress.chunksTotal == 4 && job.progress.framesDone == 99)
        let frames = try MediaFiles.decodeRGB(try #require(job.videoPath), size: Self.size)
        #expect(frames.count == 99)
        // Below the code band each chunk is its prompt's flat colour: find where it changes.
        let band = max(8, Self.size.height / 6)
        let means = frames.map { MediaFiles.meanColour($0, size: Self.size, rows: (band + 4)..<Self.size.height) }
        let switches = (1..<means.count).filter { index in
            let (a, b) = (means[index], means[index - 1])
            let change: Double = abs(a.0 - b.0) + abs(a.1 - b.1) + abs(a.2 - b.2)
            return change > 12
        }
        #expect(switches == [33, 66], "\(switches)")
    }

    @Test func badInputsEndInClearErrorsAndHarmNothingElse() async throws {
        let setup = try await Setup()
        defer { setup.stop() }
        let dir = setup.dir
        try Data("this is a text file\n".utf8).write(to: URL(fileURLWithPath: dir.file("text.png")))
        let clip = try Data(contentsOf: URL(fileURLWithPath: setup.clip))
        try clip.prefix(clip.count / 3).write(to: URL(fileURLWithPath: dir.file("truncated.mp4")))
        try MediaFiles.write((0..<10).map { MediaFiles.picture(Self.size, index: $0) }, size: Self.size, to: dir.file("short.mp4"))
        #expect(FileManager.default.createFile(atPath: dir.file("huge.png"), contents: nil))
        // 200 MB against the 2 MiB the daemon is given for an image: refused once 2 MiB have
        // arrived, not after reading it all. (The default is 50 MiB; a debug build parses
        // multipart at about 1 MB/s, so that limit would make a slow test, not a better one.)
        #expect(truncate(dir.file("huge.png"), 200_000_000) == 0)

        let cases: [(String, String, Int, String)] = [
            ("image", dir.file("text.png"), 422, "does not decode as an image"),
            ("video", dir.file("truncated.mp4"), 422, "does not decode as a video"),
            ("video", dir.file("short.mp4"), 422, "has 10 frames; pipeline synthetic continues a clip of at least 33"),
            ("image", dir.file("huge.png"), 413, "is larger than the 2 MiB an image may be"),
        ]
        for (field, file, status, message) in cases {
            let answer = try await multipart(Self.baseJob(frames: 40), files: [field: file], to: setup.url + "/v1/jobs")
            let text = String(decoding: answer.body, as: UTF8.self)
            #expect(answer.status == status, "\(file): \(text)")
            #expect(text.contains("\"field\":\"\(field)\"") && text.contains(message), "\(file): \(text)")
        }
        // The CLI says the same, naming the field.
        let refused = try runProcess(
            [DaemonProcess.binary, "submit", "--prompt", "a fox", "--frames", "40", "--size", "128x96", "--image", dir.file("text.png"),
             "--server", setup.url], environment: ["SPOOL_SERVER": ""])
        #expect(refused.status != 0 && refused.stderr.contains("image") && refused.stderr.contains("does not decode as an image"), "\(refused.stderr)")

        // The drop folder: a job naming a file that is not a picture goes to failed/ with it.
        let inbox = setup.data + "/inbox"
        try FileManager.default.copyItem(atPath: dir.file("text.png"), toPath: inbox + "/not-a-picture.png")
        try JSONSerialization.data(withJSONObject: Self.baseJob(frames: 40).merging(["image": "not-a-picture.png"]) { $1 })
            .write(to: URL(fileURLWithPath: dir.file("bad.json")))
        #expect(rename(dir.file("bad.json"), inbox + "/bad.json") == 0)
        let report = setup.data + "/failed/bad.error.json"
        try await until("the bad job file is refused", timeout: 60) { FileManager.default.fileExists(atPath: report) }
        let reason = try String(contentsOfFile: report, encoding: .utf8)
        #expect(reason.contains("not-a-picture.png does not decode as an image"), "\(reason)")
        #expect(FileManager.default.fileExists(atPath: setup.data + "/failed/not-a-picture.png"), "the input moved with its job file")

        // A part header whose name is not ASCII is refused (400), at both doors that take
        // multipart: the parser underneath (multipart-kit 4.7.1) traps on such a byte, and one
        // such request used to take the whole daemon down (the schema fuzzer's find).
        for path in ["/v1/jobs", "/v1/videos"] {
            var request = URLRequest(url: URL(string: setup.url + path)!)
            request.httpMethod = "POST"
            request.setValue("multipart/form-data; boundary=b0", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data("--b0\r\n".utf8) + Data([0xF3, 0x85, 0xB6, 0x97]) + Data("f: x\r\n\r\n{}\r\n--b0--\r\n".utf8)
            let (data, response) = try await URLSession.shared.data(for: request)
            let text = String(decoding: data, as: UTF8.self)
            #expect((response as? HTTPURLResponse)?.statusCode == 400 && text.contains("not ASCII"), "\(path): \(text)")
        }

        // Nothing else was harmed: a good job still runs (its image's file name, raw UTF-8 in
        // the part's header value, as browsers send it, is fine). What does not decode was never kept;
        // the short clip decoded and was refused by the job's rules, so it is kept unreferenced
        // like any input no job names, for the sweep to remove once its retention passes.
        try FileManager.default.copyItem(atPath: setup.image, toPath: dir.file("renard-é.png"))
        let good = try await run(Self.baseJob(frames: 24), files: ["image": dir.file("renard-é.png")], door: .http, setup: setup, name: "after")
        #expect(good.state == .succeeded)
        let folder = setup.data + "/inputs"
        let kept = try FileManager.default.contentsOfDirectory(atPath: folder).filter { JobInput.isDigest($0) }
        let described = try kept.map { try JSONDecoder().decode(JobInput.self, from: Data(contentsOf: URL(fileURLWithPath: "\(folder)/\($0).json"))) }
        #expect(Set(described.map { "\($0.kind?.rawValue ?? "?"):\($0.frames ?? 1)" }) == ["image:1", "video:10"], "\(described)")
        #expect(good.spec.image.map { kept.contains($0.sha256) } == true)
    }
}
