import Foundation
import SpoolCore
import SpoolPostgres
import SpoolTesting
import Testing

/// Issue 33: the database's work per job must not grow with the jobs a fleet has finished.
/// Every statement a host runs on its hot paths (submit and the wake-up its trigger sends,
/// claim in queue order and under fair share, the heartbeat with everything it reads,
/// publish, recover, outcomes, polls, lists, usage, webhooks) is
/// run against a PostgreSQL holding 100,000 finished jobs and their attempts, with the server
/// writing each statement's plan to its log (`auto_explain`): no plan may read `jobs` or
/// `attempts` whole.
@Suite("PostgreSQL plans", .serialized, .enabled(if: PostgresTestServer.isAvailable))
struct PostgresPlanTests {
    @Test func noHotPathScansJobsOrAttemptsWholeAtAHundredThousandFinishedJobs() async throws {
        try await withStore(.postgres) { t in
            let store = t.store, clock = t.clock
            // One job run to the end, then copied: 100,000 finished jobs of three tenants and
            // the host, each with its attempt, one ending every 86.4 s over the last 100 days
            // (a fleet's history: about 1,000 a day).
            let template = try await store.enqueue(Fixtures.request(at: clock.now())).job.id
            _ = try #require(try await t.claim())
            _ = try await store.update(template, to: .encoding, JobUpdate(attempt: 1, at: clock.now(), endAttempt: .generated, attemptGPUSeconds: 1))
            _ = try await store.update(template, to: .succeeded, JobUpdate(attempt: 1, at: clock.now()))
            try await t.execute("""
                DO $$
                DECLARE job_columns text; attempt_columns text;
                BEGIN
                    SELECT string_agg(quote_ident(column_name), ', ') INTO job_columns FROM information_schema.columns
                        WHERE table_name = 'jobs' AND column_name NOT IN ('seq', 'id', 'tenant', 'idempotency_key');
                    SELECT string_agg(quote_ident(column_name), ', ') INTO attempt_columns FROM information_schema.columns
                        WHERE table_name = 'attempts' AND column_name NOT IN ('job_id');
                    EXECUTE format('INSERT INTO jobs (id, tenant, %s) SELECT ''copy-'' || g, (ARRAY[NULL, ''ana'', ''bo'', ''cy''])[g %% 4 + 1], %s
                        FROM jobs, generate_series(1, 100000) g WHERE id = %L', job_columns, job_columns, '\(template)');
                    EXECUTE format('INSERT INTO attempts (job_id, %s) SELECT j.id, %s FROM attempts a CROSS JOIN jobs j
                        WHERE a.job_id = %L AND j.id <> %L', attempt_columns, 'a.' || replace(attempt_columns, ', ', ', a.'), '\(template)', '\(template)');
                    UPDATE attempts SET started_at = started_at - substr(job_id, 6)::int * 86.4, ended_at = ended_at - substr(job_id, 6)::int * 86.4
                        WHERE job_id LIKE 'copy-%';
                END $$
                """)
            try await t.execute("ANALYZE jobs")
            try await t.execute("ANALYZE attempts")
            #expect(try await store.count(JobQuery(states: [.succeeded])) == 100_001)

            // A store opened from now on has every plan logged.
            let database = try PostgresStoreAddress(url: t.storeArgument).database
            try await PostgresTestServer.explainEveryStatement(in: database)
            let log = try await PostgresTestServer.serverLog()
            let logged = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
            let host = try await t.openAnother()

            // The hot paths, each at least once.
            let now = clock.now()
            var queued: [JobID] = []
            for tenant in ["ana", "bo", nil, "ana"] {
                var request = Fixtures.request(at: now)
                request.tenant = tenant
                queued.append(try await host.enqueue(request).job.id)
            }
            try await host.registerHost(HostRecord(name: "h1", slots: [.virtual(0)], pipelines: ["synthetic"], startedAt: now, heartbeatAt: now))
            _ = try await host.hosts()
            let lease = now.addingTimeInterval(30)
            let plain = try #require(try await host.claimNext(ClaimRequest(host: "h1", gpu: "gpu0", pipelines: ["synthetic"], now: now, leaseUntil: lease)))
            let fair = try #require(try await host.claimNext(ClaimRequest(
                host: "h1", gpu: "gpu1", pipelines: ["synthetic"], now: now, leaseUntil: lease, tenantOrder: ["bo", "ana", ""])))
            _ = try await host.claimNext(ClaimRequest(host: "h1", gpu: "gpu2", pipelines: ["synthetic"], now: now, leaseUntil: lease, heldTenants: ["ana", ""]))
            // The heartbeat: its renewals and reads, run inside `spool_heartbeat`.
            _ = try await host.heartbeat(Heartbeat(
                host: "h1", leaseUntil: lease, now: now, running: [plain.id: plain.attempts, fair.id: fair.attempts],
                keeping: [plain.id], freeSlots: 1, idlePipelines: ["synthetic"]))
            _ = try await host.jobs([plain.id, fair.id])
            _ = try await host.job(plain.id)
            for scope in [QueueScope.everyone, .sameTenant] {
                _ = try await host.jobWithPosition(queued[3], scope: scope)
                _ = try await host.queuePosition(of: queued[3], scope: scope)
            }
            _ = try await host.list(JobQuery(limit: 50))
            _ = try await host.list(JobQuery(states: [.queued, .running], limit: 50))
            _ = try await host.list(JobQuery(tenant: "ana"))
            _ = try await host.count(JobQuery(states: [.queued], tenant: "ana"))
            _ = try await host.tenantUsage(since: now.addingTimeInterval(-86_400), now: now)
            _ = try await host.hourlyUsage(since: now.addingTimeInterval(-240 * 3_600))
            // The router's history: a week's attempts, the newest 5,000.
            _ = try await host.endedAttempts(since: now.addingTimeInterval(-7 * 86_400), limit: 5_000)
            _ = try await host.preemptionCandidate(PreemptionQuery(pipelines: ["synthetic"], abovePriority: 0, waitingSince: now))
            _ = try await host.update(plain.id, to: .encoding, JobUpdate(attempt: plain.attempts, at: now, endAttempt: .generated, attemptGPUSeconds: 1))
            #expect(try await host.confirmPublishing(plain.id, attempt: plain.attempts, host: "h1", leaseUntil: lease))
            _ = try await host.update(plain.id, to: .succeeded, JobUpdate(attempt: plain.attempts, at: now))
            _ = try await host.attempts(of: plain.id)
            _ = try await host.recoverLostJobs(RecoveryRequest(restartedHost: "h1", expiredLeases: false, now: now, keeping: [fair.id], startedBefore: now))
            _ = try await host.recoverLostJobs(RecoveryRequest(restartedHost: nil, expiredLeases: true, now: now))
            _ = try await host.claimWebhookDeliveries(WebhookClaim(host: "h1", now: now, leaseUntil: lease, limit: 16))
            _ = try await host.webhookDeliveries(of: plain.id)

            // What the server logged for this store's connections.
            let handle = try #require(FileHandle(forReadingAtPath: log))
            try handle.seek(toOffset: UInt64(logged))
            let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
            try handle.close()
            let plans = text.components(separatedBy: "Query Text:").dropFirst()
            #expect(plans.count >= 20, "the server logged \(plans.count) plans: is auto_explain loaded? \(text.suffix(2_000))")
            let whole = plans.filter { $0.contains("Seq Scan on jobs") || $0.contains("Seq Scan on attempts") }
            #expect(whole.isEmpty, "statements that read a table whole:\n\(whole.map { String($0.prefix(2_500)) }.joined(separator: "\n---\n"))")
        }
    }
}
