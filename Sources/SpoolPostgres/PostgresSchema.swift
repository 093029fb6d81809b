/// The shared store's schema, as ordered migrations; never edit a shipped migration, add one.
///
/// Columns mirror the SQLite store's. Times are `double precision` seconds since 1970, so
/// both stores compare and round-trip them identically. A trigger notifies the
/// `spool_queue` channel whenever a job becomes queued, whoever queued it.
enum PostgresSchema {
    static let notifyChannel = "spool_queue"
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
    ]
}
