import Foundation
import SpoolCore
import SpoolScheduler
import SpoolTesting
import Testing

/// Routing on a shared queue (issue 30): a candidate this host cannot run is chosen when another
/// live host in the store's registry can, and passed over when none can, on both stores.
@Suite("Routing on a shared queue")
struct RoutingSubmissionTests {
    @Test(arguments: StoreKind.available)
    func aCandidateOnlyAnotherLiveHostCanRunIsChosenAndNotWhenThatHostIsGone(_ kind: StoreKind) async throws {
        try await withStore(kind) { t in
            let store = t.store, clock = t.clock
            var catalog = PipelineCatalog([
                Fixtures.synthetic(name: "gpu-only", requiresCUDA: true), Fixtures.synthetic(name: "fallback"),
            ])
            catalog.routes = RouteTable(tiers: [.best: ["gpu-only", "fallback"]])
            let dir = try TemporaryDirectory("routing-shared")
            defer { dir.remove() }
            // This host has no GPU.
            let configuration = SchedulerConfiguration(host: "cpu-host", data: DataDirectory(dir.path), slots: [.virtual(0)], leaseSeconds: 30)
            let submitter = JobSubmitter(store: store, pipelines: catalog, configuration: configuration, clock: clock)
            let routed = JobSpec(prompt: "a fox", frames: 16, pipeline: "auto", tier: .best)

            // Another host, live, with a GPU that runs it.
            try await store.registerHost(HostRecord(
                name: "gpu-host", slots: [.gpu(0)], pipelines: ["gpu-only", "fallback"], startedAt: clock.now(), heartbeatAt: clock.now()))
            let there = try await submitter.submit(routed).job
            #expect(there.pipeline == "gpu-only" && there.waitingReason == nil, "\(there.routing?.reason ?? "")")

            // That host's record goes stale: no live host can run it any more.
            clock.advance(by: 31)
            let here = try await submitter.submit(routed).job
            #expect(here.pipeline == "fallback")
            let passed = try #require(here.routing?.candidates.first)
            #expect(!passed.fits && passed.reason.contains("no live host can run it") && passed.reason.contains("needs a CUDA GPU"), "\(passed.reason)")
        }
    }
}
