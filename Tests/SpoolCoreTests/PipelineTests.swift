import Foundation
import SpoolCore
import SpoolTesting
import Testing

@Suite("Pipeline definitions")
struct PipelineTests {
    @Test("chunk counts follow the published models' shapes")
    func chunkCounts() {
        let helios = PipelineDefinition.Chunking(frames: 33)
        #expect(helios.chunkCount(forFrames: 1_440) == 44)
        #expect(helios.chunkCount(forFrames: 33) == 1)
        #expect(helios.chunkCount(forFrames: 34) == 2)
        let skyreels = PipelineDefinition.Chunking(frames: 97, overlap: 17, overlapPolicy: .drop)
        #expect(skyreels.chunkCount(forFrames: 97) == 1)
        #expect(skyreels.chunkCount(forFrames: 98) == 2)
        #expect(skyreels.chunkCount(forFrames: 1_440) == 18)  // 97 + 17·80 = 1,457 ≥ 1,440
    }

    @Test func loadingAFolderReportsEveryBadFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let good = #"{"name":"ok","command":["w"],"chunking":{"frames":33,"overlap":0,"overlapPolicy":"drop"},"sizes":{"default":"640x384"}}"#
        try good.write(toFile: dir.file("ok.json"), atomically: true, encoding: .utf8)
        try #"{"name":"bad","command":["w"]}"#.write(toFile: dir.file("bad.json"), atomically: true, encoding: .utf8)
        try "{not json".write(toFile: dir.file("broken.json"), atomically: true, encoding: .utf8)
        let overlap = #"{"name":"o","command":["w"],"chunking":{"frames":8,"overlap":8,"overlapPolicy":"blend"},"sizes":{"default":"64x48"}}"#
        try overlap.write(toFile: dir.file("overlap.json"), atomically: true, encoding: .utf8)

        let error = #expect(throws: PipelineCatalog.LoadError.self) { try PipelineCatalog.load(folder: dir.path) }
        let problems = error?.problems ?? []
        #expect(problems.count == 3)
        #expect(problems.contains { $0.file.hasSuffix("bad.json") && $0.reason.contains("missing field \"chunking\"") })
        #expect(problems.contains { $0.file.hasSuffix("broken.json") && $0.reason.contains("not valid JSON") })
        #expect(problems.contains { $0.file.hasSuffix("overlap.json") && $0.reason.contains("chunking.overlap") })

        try FileManager.default.removeItem(atPath: dir.file("bad.json"))
        try FileManager.default.removeItem(atPath: dir.file("broken.json"))
        try FileManager.default.removeItem(atPath: dir.file("overlap.json"))
        let catalog = try PipelineCatalog.load(folder: dir.path)
        #expect(catalog.names == ["ok"])
        #expect(catalog["ok"]?.timeouts.stallSeconds == 300)
    }

    @Test func theShippedPipelinesLoad() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Pipelines").path
        let catalog = try PipelineCatalog.load(folder: folder)
        #expect(catalog["synthetic"] != nil)
        #expect(catalog["helios"]?.requiresCUDA == true)
        #expect(catalog["helios"]?.sizes.allowed == [FrameSize(width: 640, height: 384)])
        // The shipped route table names only shipped pipelines, in each tier.
        let routes = try #require(catalog.routes)
        #expect(RouteTier.allCases.allSatisfy { !routes.candidates($0).isEmpty })
        #expect(routes.candidates(.draft).first == "helios-distilled" && catalog["helios-distilled"]?.prior != nil)
    }

    @Test func aRouteTableNamingAnUnknownPipelineOrTierStopsTheLoad() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let good = #"{"name":"ok","command":["w"],"chunking":{"frames":33,"overlap":0,"overlapPolicy":"drop"},"sizes":{"default":"640x384"},"prior":{"gpuSecondsPerVideoSecond":2}}"#
        try good.write(toFile: dir.file("ok.json"), atomically: true, encoding: .utf8)
        try #"{"tiers":{"draft":["ok","missing"]}}"#.write(toFile: dir.file("routes.json"), atomically: true, encoding: .utf8)
        let error = #expect(throws: PipelineCatalog.LoadError.self) { try PipelineCatalog.load(folder: dir.path) }
        #expect(error?.problems.count == 1)
        #expect(error?.problems.first?.reason.contains("tiers.draft names \"missing\", which is no pipeline here") == true, "\(error?.problems ?? [])")

        try #"{"tiers":{"cheap":["ok"]}}"#.write(toFile: dir.file("routes.json"), atomically: true, encoding: .utf8)
        let tier = #expect(throws: PipelineCatalog.LoadError.self) { try PipelineCatalog.load(folder: dir.path) }
        #expect(tier?.problems.first?.reason.contains("unknown tier \"cheap\"") == true, "\(tier?.problems ?? [])")

        try #"{"tiers":{"draft":["ok"]}}"#.write(toFile: dir.file("routes.json"), atomically: true, encoding: .utf8)
        let catalog = try PipelineCatalog.load(folder: dir.path)
        #expect(catalog.names == ["ok"], "routes.json is not a pipeline")
        #expect(catalog.routes?.candidates(.draft) == ["ok"] && catalog.routes?.skipFailing.after == 3)
        #expect(catalog["ok"]?.prior?.gpuSecondsPerVideoSecond == 2)
    }

    @Test func retryBackoffGrowsExponentiallyToItsCap() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: 2, maxDelay: 10)
        #expect((1...5).map(policy.delay(afterAttempt:)) == [2, 4, 8, 10, 10])
    }
}
