import Foundation
import SpoolAPIModel
import SpoolCore
import Testing

/// The hand-written JSON of job responses must be byte for byte what `JSONEncoder.spoolAPI`
/// writes, so that it is only a faster way to the same API.
@Suite("API JSON")
struct APIJSONTests {
    /// Deterministic pseudo-random values, so a failure reproduces.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        mutating func chance(_ percent: UInt64) -> Bool { next() % 100 < percent }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func double() -> Double {
            switch next() % 6 {
            case 0: Double(int(0...1_000))
            case 1: Double(next()) / Double(1 << 53)
            case 2: Double(next()) / 1e3
            case 3: Double(next() % 1_000_000) * 1e-9
            case 4: Double(int(1...9)) * 1e-7
            default: Double(next()) * 1e9
            }
        }
        mutating func date() -> Date {
            // Microsecond stamps around now, as stores keep them, plus whole and half milliseconds.
            let base = 1_700_000_000 + Double(next() % 200_000_000)
            switch next() % 4 {
            case 0: return Date(timeIntervalSince1970: base)
            case 1: return Date(timeIntervalSince1970: base + Double(int(0...999)) / 1_000 + 0.0005)
            default: return Date(timeIntervalSince1970: base + Double(next() % 1_000_000) / 1_000_000)
            }
        }
        mutating func text() -> String {
            let pieces = ["a fox", " ", "\"quoted\"", "back\\slash", "a/b", "\n", "\t", "\r", "\u{0}", "\u{1}", "\u{8}",
                          "\u{c}", "\u{1f}", "\u{7f}", "é", "日本", "😀", "\u{2028}", "<tag>", "&"]
            return (0..<int(0...6)).map { _ in pieces[int(0...pieces.count - 1)] }.joined()
        }
        mutating func maybe<T>(_ make: (inout Generator) -> T) -> T? { chance(50) ? make(&self) : nil }
        mutating func input(_ kind: JobInput.Kind) -> JobInput {
            JobInput(
                sha256: String(repeating: "ab", count: 32), kind: chance(80) ? kind : nil, width: maybe { $0.int(1...4_000) },
                height: maybe { $0.int(1...4_000) }, frames: maybe { $0.int(1...1_440) }, bytes: maybe { $0.int(0...1 << 40) },
                codec: maybe { $0.text() }, name: maybe { $0.text() })
        }
    }

    func resource(_ g: inout Generator) -> JobResource {
        var labels: [String: String] = [:]
        for _ in 0..<g.int(0...4) { labels[g.text() + "k\(g.int(0...99))"] = g.text() }
        let spec = JobSpec(
            prompt: g.text(), negativePrompt: g.maybe { $0.text() }, frames: g.int(1...1_440),
            width: g.maybe { $0.int(2...1_920) }, height: g.maybe { $0.int(2...1_080) }, seed: g.maybe { $0.next() << 11 | $0.next() },
            pipeline: g.maybe { $0.text() }, priority: g.int(-10...10), outputName: g.maybe { $0.text() },
            idempotencyKey: g.maybe { $0.text() }, labels: labels, timeLimitSeconds: g.maybe { $0.double() },
            options: g.chance(30) ? ["steps": g.text(), g.text() + "k": g.text()] : [:],
            image: g.maybe { $0.input(.image) }, video: g.maybe { $0.input(.video) }, includeInput: g.chance(30),
            prompts: g.maybe { g in (0..<g.int(0...3)).map { _ in ScheduledPrompt(at: g.double(), prompt: g.text()) } },
            transitionChunks: g.int(0...3), webhook: g.maybe { "https://example.com/" + $0.text() },
            webhookEvents: g.maybe { g in WebhookEvent.allCases.filter { _ in g.chance(50) } })
        let submitted = g.date()
        let job = Job(
            id: JobID(UUID().uuidString.lowercased()), spec: spec, state: JobState.allCases[g.int(0...JobState.allCases.count - 1)],
            attempts: g.int(0...3), maxAttempts: 3,
            timings: JobTimings(
                submittedAt: submitted, startedAt: g.maybe { _ in submitted.addingTimeInterval(0.25) },
                firstChunkAt: g.maybe { $0.date() }, generatedAt: g.maybe { $0.date() }, encodedAt: g.maybe { $0.date() },
                finishedAt: g.maybe { $0.date() }),
            progress: JobProgress(framesDone: g.int(0...1_440), framesTotal: g.int(1...1_440), chunksDone: g.int(0...44), chunksTotal: g.maybe { $0.int(1...44) }),
            gpu: g.maybe { $0.text() }, host: g.maybe { $0.text() }, gpuSeconds: g.double(), error: g.maybe { $0.text() },
            waitingReason: g.maybe { $0.text() }, outputPath: g.maybe { $0.text() }, posterPath: g.maybe { $0.text() },
            coldStart: g.maybe { $0.int(0...1) == 1 }, loadSeconds: g.maybe { $0.double() })
        return JobResource(job, queuePosition: g.maybe { $0.int(1...10_000) })
    }

    @Test func jobResourcesAreWrittenExactlyAsJSONEncoderWritesThem() throws {
        var g = Generator(state: 42)
        for _ in 0..<2_000 {
            let resource = resource(&g)
            let expected = String(decoding: try JSONEncoder.spoolAPI.encode(resource), as: UTF8.self)
            let written = String(decoding: resource.jsonBytes(), as: UTF8.self)
            try #require(written == expected)
        }
    }

    @Test func pagesAreWrittenExactlyAsJSONEncoderWritesThem() throws {
        var g = Generator(state: 7)
        for count in [0, 1, 5] {
            let page = JobList(jobs: (0..<count).map { _ in resource(&g) }, nextCursor: count == 5 ? "123" : nil)
            #expect(String(decoding: page.jsonBytes(), as: UTF8.self) == String(decoding: try JSONEncoder.spoolAPI.encode(page), as: UTF8.self))
        }
    }

    @Test func datesBeforeNineteenSeventyAndAroundLeapDays() throws {
        let stamps: [Double] = [-1.5, -86_400.0005, 0, 951_782_400.999, 951_868_799.9999, 4_102_444_800.001, 1_709_164_800.5]
        for stamp in stamps {
            var job = Job(id: JobID("x"), spec: JobSpec(prompt: "p", frames: 1), maxAttempts: 1,
                          timings: JobTimings(submittedAt: Date(timeIntervalSince1970: stamp)), progress: JobProgress(framesTotal: 1))
            job.gpuSeconds = 0
            let resource = JobResource(job)
            #expect(String(decoding: resource.jsonBytes(), as: UTF8.self) == String(decoding: try JSONEncoder.spoolAPI.encode(resource), as: UTF8.self))
        }
    }
}
