/// The shared store's schema, as ordered migrations; never edit a shipped migration, add one.
///
/// Columns mirror the SQLite store's. Times are `double precision` seconds since 1970, so
/// both stores compare and round-trip them identically. A trigger wakes one host with a free
/// slot whenever a job becomes queued, whoever queued it (schema v11; before it, every host).
enum PostgresSchema {
    /// Every host heard of every job on it until schema v11 (kept for that migration's text).
    static let notifyChannel = "spool_queue"
    /// Each host hears of the jobs sent to it on `spool_wake_<md5 of its name>` (a channel
    /// name is at most 63 bytes; a host name may be longer).
    static let wakeChannelPrefix = "spool_wake_"
    /// Every change of a job's state or chunk count: `JobChange`'s notification text.
    static let jobChangesChannel = "spool_jobs"
    /// Serialises migrations when several hosts start at once.
    static let migrationLock: Int64 = 0x5350_4F4F_4C

    static let migrations: [(name: String, statements: [String])] = [
        ("v1-jobs", [
            """
            CREATE TABLE jobs (
                seq bigserial PRIMARY KEY,
                id text NOT NULL UNIQUE,
                idempotency_key text UNIQUE,
                spec text NOT NULL,
                pipeline text NOT NULL,
                priority bigint NOT NULL,
                state text NOT NULL,
                attempts bigint NOT NULL DEFAULT 0,
                max_attempts bigint NOT NULL,
                submitted_at double precision NOT NULL,
                started_at double precision,
                first_chunk_at double precision,
                generated_at double precision,
                encoded_at double precision,
                finished_at double precision,
                frames_done bigint NOT NULL DEFAULT 0,
                frames_total bigint NOT NULL,
                chunks_done bigint NOT NULL DEFAULT 0,
                chunks_total bigint,
                gpu text,
                host text,
                gpu_seconds double precision NOT NULL DEFAULT 0,
                error text,
                waiting_reason text,
                not_before double precision,
                lease_expires_at double precision,
                output_path text,
                poster_path text
            )
            """,
            "CREATE INDEX jobs_queue ON jobs (priority DESC, seq) WHERE state = 'queued'",
            "CREATE INDEX jobs_active ON jobs (host) WHERE state IN ('running', 'encoding')",
            "CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state IN ('running', 'encoding')",
            "CREATE INDEX jobs_state ON jobs (state, seq)",
            """
            CREATE TABLE attempts (
                job_id text NOT NULL REFERENCES jobs (id),
                number bigint NOT NULL,
                host text NOT NULL,
                gpu text NOT NULL,
                started_at double precision NOT NULL,
                heartbeat_at double precision,
                ended_at double precision,
                outcome text NOT NULL,
                gpu_seconds double precision NOT NULL DEFAULT 0,
                error text,
                PRIMARY KEY (job_id, number)
            )
            """,
            "CREATE INDEX attempts_running ON attempts (host) WHERE outcome = 'running'",
            """
            CREATE TABLE hosts (
                name text PRIMARY KEY,
                record text NOT NULL,
                heartbeat_at double precision NOT NULL
            )
            """,
            """
            CREATE FUNCTION spool_notify_queue() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('\(notifyChannel)', '');
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER jobs_queued AFTER INSERT OR UPDATE OF state ON jobs
            FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION spool_notify_queue()
            """,
        ]),
        // A queue churns: every job is inserted, updated several times and left behind.
        // Vacuum and analyze it after a few hundred changes, not after 20% of the table.
        ("v2-queue-autovacuum", [
            """
            ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 200,
                                  autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 200)
            """,
        ]),
        ("v3-model-loads", [
            "ALTER TABLE jobs ADD COLUMN cold_start bigint, ADD COLUMN load_seconds double precision",
            "ALTER TABLE attempts ADD COLUMN cold_start bigint, ADD COLUMN load_seconds double precision",
        ]),
        // Hosts follow jobs that run elsewhere (server-sent events, drop-folder results)
        // through these, not by polling.
        ("v4-job-changes", [
            """
            CREATE FUNCTION spool_notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('\(jobChangesChannel)', NEW.id || ' ' || NEW.state || ' ' || NEW.attempts || ' '
                    || NEW.chunks_done || ' ' || CASE WHEN OLD.state IS DISTINCT FROM NEW.state THEN 'state' ELSE 'chunk' END);
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER jobs_changed AFTER UPDATE OF state, chunks_done ON jobs
            FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.chunks_done IS DISTINCT FROM NEW.chunks_done)
            EXECUTE FUNCTION spool_notify_job_change()
            """,
        ]),
        // Webhook deliveries: owed in the commit that moves a job, sent by one host at a time
        // under a lease.
        ("v5-webhooks", [
            "ALTER TABLE jobs ADD COLUMN webhooks text",
            """
            CREATE TABLE webhook_deliveries (
                id text PRIMARY KEY,
                job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                event text NOT NULL,
                url text NOT NULL,
                state text NOT NULL,
                created_at double precision NOT NULL,
                next_attempt_at double precision,
                tries text NOT NULL DEFAULT '[]',
                payload text,
                last_error text,
                lease_host text,
                lease_until double precision,
                UNIQUE (job_id, event, url)
            )
            """,
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending'",
        ]),
        // A job's latest checkpoint: after which chunk, how many frames are final, the state.
        ("v6-checkpoints", [
            "ALTER TABLE jobs ADD COLUMN checkpoint_chunk bigint, ADD COLUMN checkpoint_frame bigint, ADD COLUMN checkpoint_state text",
        ]),
        // Where each attempt started: the frame it resumed from, or why it could not.
        ("v7-resume", [
            "ALTER TABLE attempts ADD COLUMN resumed_from_frame bigint, ADD COLUMN resume_note text",
        ]),
        // Attempts Spool stopped at a checkpoint (drain, preemption): not counted against
        // the job's --max-attempts.
        ("v8-spared-attempts", [
            "ALTER TABLE jobs ADD COLUMN spared_attempts bigint NOT NULL DEFAULT 0",
        ]),
        // The tenant that submitted a job (`--tokens`), and its jobs newest first.
        ("v9-tenants", [
            "ALTER TABLE jobs ADD COLUMN tenant text",
            "CREATE INDEX jobs_tenant ON jobs (tenant, seq)",
            "CREATE INDEX attempts_ended ON attempts (ended_at)",
            "CREATE INDEX jobs_tenant_queue ON jobs ((COALESCE(tenant, '')), priority DESC, seq) WHERE state = 'queued'",
        ]),
        // What the encoder measured of a published video (VideoQuality, as JSON).
        ("v10-quality", [
            "ALTER TABLE jobs ADD COLUMN quality text",
        ]),
        // A fleet's database work per job, not per host and second (issue 33).
        ("v11-fleet", [
            // What each host's last heartbeat said its free slots can take: where a new job's
            // wake-up goes. `free_slots` is lowered by each wake-up sent, and set again by the
            // host's next heartbeat.
            """
            ALTER TABLE hosts ADD COLUMN free_slots bigint NOT NULL DEFAULT 0,
                ADD COLUMN idle_pipelines text[] NOT NULL DEFAULT '{}', ADD COLUMN ready_pipelines text[] NOT NULL DEFAULT '{}'
            """,
            "CREATE INDEX hosts_free ON hosts (free_slots DESC) WHERE free_slots > 0",
            // A job becoming queued wakes one host, not all: the one whose free slot holds its
            // model ready, else the one with the most free slots, its count lowered so that the
            // next job goes to the next host. A host row another submission holds is skipped
            // (no waits, no deadlock between batches); if every free host is held, the best one
            // is told all the same. No free host: nobody is told, and the job is found by the
            // next heartbeat of a host with a free slot (`waiting` below).
            """
            CREATE OR REPLACE FUNCTION spool_notify_queue() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                target text;
            BEGIN
                SELECT name INTO target FROM hosts
                WHERE free_slots > 0 AND NEW.pipeline = ANY (idle_pipelines)
                ORDER BY NEW.pipeline = ANY (ready_pipelines) DESC, free_slots DESC, name
                LIMIT 1 FOR UPDATE SKIP LOCKED;
                IF target IS NOT NULL THEN
                    UPDATE hosts SET free_slots = free_slots - 1 WHERE name = target;
                ELSE
                    SELECT name INTO target FROM hosts
                    WHERE free_slots > 0 AND NEW.pipeline = ANY (idle_pipelines)
                    ORDER BY NEW.pipeline = ANY (ready_pipelines) DESC, free_slots DESC, name LIMIT 1;
                END IF;
                IF target IS NOT NULL THEN
                    PERFORM pg_notify('\(wakeChannelPrefix)' || md5(target), NEW.pipeline);
                END IF;
                RETURN NULL;
            END
            $$
            """,
            // One heartbeat in one statement and one commit. Its writes lock in the order every
            // other write does (a job's row, then its attempt's; the host's row last, which
            // only the host itself and wake-ups, skipping locked rows, take), so it cannot
            // deadlock against `update`. The reads answer what a host used to ask in four more
            // statements: its attempts' standing (reconcile), and whether any lease expired
            // (recovery), any job is recorded here that the host does not hold (orphans), or a
            // job waits for a free slot here: one submitted a heartbeat ago or more (its wake-up
            // went astray), or one whose retry delay has passed (its wake-up came at the requeue).
            """
            CREATE FUNCTION spool_heartbeat(
                p_host text, p_until double precision, p_now double precision, p_jobs text[], p_keeping text[],
                p_free bigint, p_idle text[], p_ready text[], p_waiting_since double precision,
                OUT standing_ids text[], OUT standing_states text[], OUT standing_attempts bigint[], OUT standing_hosts text[],
                OUT expired boolean, OUT orphans boolean, OUT waiting boolean
            ) LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE jobs SET lease_expires_at = p_until WHERE host = p_host AND state IN ('running', 'encoding');
                UPDATE attempts SET heartbeat_at = p_now WHERE host = p_host AND outcome = 'running';
                UPDATE hosts SET heartbeat_at = p_now, free_slots = p_free, idle_pipelines = p_idle, ready_pipelines = p_ready
                WHERE name = p_host;
                SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(state), '{}'), coalesce(array_agg(attempts), '{}'),
                       coalesce(array_agg(coalesce(host, '')), '{}')
                INTO standing_ids, standing_states, standing_attempts, standing_hosts
                FROM jobs WHERE id = ANY (p_jobs);
                expired := EXISTS (SELECT 1 FROM jobs WHERE state IN ('running', 'encoding') AND lease_expires_at < p_now);
                orphans := EXISTS (SELECT 1 FROM jobs WHERE host = p_host AND state IN ('running', 'encoding')
                                   AND started_at < p_now AND NOT (id = ANY (p_keeping)));
                waiting := p_free > 0 AND EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND pipeline = ANY (p_idle)
                                                  AND (not_before <= p_now OR (not_before IS NULL AND submitted_at <= p_waiting_since)));
            END
            $$
            """,
            // A job's changes are sent only while some host follows the job (an event stream
            // open for it, a drop folder waiting for its result): every host heard every change
            // of every job, and PostgreSQL signals each listener at every notifying commit.
            "CREATE TABLE followed_jobs (job_id text NOT NULL, host text NOT NULL, PRIMARY KEY (job_id, host))",
            "CREATE INDEX followed_jobs_host ON followed_jobs (host)",
            """
            CREATE OR REPLACE FUNCTION spool_notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM followed_jobs WHERE job_id = NEW.id) THEN
                    PERFORM pg_notify('\(jobChangesChannel)', NEW.id || ' ' || NEW.state || ' ' || NEW.attempts || ' '
                        || NEW.chunks_done || ' ' || CASE WHEN OLD.state IS DISTINCT FROM NEW.state THEN 'state' ELSE 'chunk' END);
                END IF;
                RETURN NULL;
            END
            $$
            """,
        ]),
        // Routing (issue 30): how a routed job's pipeline was chosen (JobRouting, as JSON), and
        // the pipeline each attempt ran on (a routed job may move to another after a failure).
        ("v12-routing", [
            "ALTER TABLE jobs ADD COLUMN routing text",
            "ALTER TABLE attempts ADD COLUMN pipeline text",
        ]),
    ]
}
