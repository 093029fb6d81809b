import GRDB

/// The store's schema, as ordered migrations; never edit a shipped migration, add one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-jobs") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    idempotency_key TEXT UNIQUE,
                    spec TEXT NOT NULL,
                    pipeline TEXT NOT NULL,
                    priority INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    max_attempts INTEGER NOT NULL,
                    submitted_at REAL NOT NULL,
                    started_at REAL,
                    first_chunk_at REAL,
                    generated_at REAL,
                    encoded_at REAL,
                    finished_at REAL,
                    frames_done INTEGER NOT NULL DEFAULT 0,
                    frames_total INTEGER NOT NULL,
                    chunks_done INTEGER NOT NULL DEFAULT 0,
                    chunks_total INTEGER,
                    gpu TEXT,
                    host TEXT,
                    gpu_seconds REAL NOT NULL DEFAULT 0,
                    error TEXT,
                    waiting_reason TEXT,
                    not_before REAL,
                    lease_expires_at REAL,
                    output_path TEXT,
                    poster_path TEXT
                );
                CREATE INDEX jobs_queue ON jobs(priority DESC, seq) WHERE state = 'queued';
                CREATE INDEX jobs_active ON jobs(host) WHERE state IN ('running', 'encoding');
                CREATE INDEX jobs_state ON jobs(state, seq);
                CREATE TABLE attempts (
                    job_id TEXT NOT NULL REFERENCES jobs(id),
                    number INTEGER NOT NULL,
                    host TEXT NOT NULL,
                    gpu TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    heartbeat_at REAL,
                    ended_at REAL,
                    outcome TEXT NOT NULL,
                    gpu_seconds REAL NOT NULL DEFAULT 0,
                    error TEXT,
                    PRIMARY KEY (job_id, number)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2-hosts") { db in
            try db.execute(sql: """
                CREATE TABLE hosts (
                    name TEXT PRIMARY KEY,
                    record TEXT NOT NULL,
                    heartbeat_at REAL NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-model-loads") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN cold_start INTEGER;
                ALTER TABLE jobs ADD COLUMN load_seconds REAL;
                ALTER TABLE attempts ADD COLUMN cold_start INTEGER;
                ALTER TABLE attempts ADD COLUMN load_seconds REAL;
                """)
        }
        migrator.registerMigration("v4-webhooks") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN webhooks TEXT;
                CREATE TABLE webhook_deliveries (
                    id TEXT PRIMARY KEY,
                    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    event TEXT NOT NULL,
                    url TEXT NOT NULL,
                    state TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    next_attempt_at REAL,
                    tries TEXT NOT NULL DEFAULT '[]',
                    payload TEXT,
                    last_error TEXT,
                    lease_host TEXT,
                    lease_until REAL,
                    UNIQUE (job_id, event, url)
                ) WITHOUT ROWID;
                CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
                """)
        }
        // A job's latest checkpoint: after which chunk, how many frames are final, the state.
        migrator.registerMigration("v5-checkpoints") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN checkpoint_chunk INTEGER;
                ALTER TABLE jobs ADD COLUMN checkpoint_frame INTEGER;
                ALTER TABLE jobs ADD COLUMN checkpoint_state TEXT;
                """)
        }
        // Where each attempt started: the frame it resumed from, or why it could not.
        migrator.registerMigration("v6-resume") { db in
            try db.execute(sql: """
                ALTER TABLE attempts ADD COLUMN resumed_from_frame INTEGER;
                ALTER TABLE attempts ADD COLUMN resume_note TEXT;
                """)
        }
        // Attempts Spool stopped at a checkpoint (drain, preemption): not counted against
        // the job's --max-attempts.
        migrator.registerMigration("v7-spared-attempts") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN spared_attempts INTEGER NOT NULL DEFAULT 0")
        }
        // The tenant that submitted a job (`--tokens`), and its jobs newest first.
        migrator.registerMigration("v8-tenants") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN tenant TEXT")
            try db.execute(sql: "CREATE INDEX jobs_tenant ON jobs (tenant, seq)")
            try db.execute(sql: "CREATE INDEX attempts_ended ON attempts (ended_at)")
            // Fair share: each tenant's best queued job, one probe (the claim's expression).
            try db.execute(sql: "CREATE INDEX jobs_tenant_queue ON jobs (COALESCE(tenant, ''), priority DESC, seq) WHERE state = 'queued'")
        }
        // What the encoder measured of a published video (VideoQuality, as JSON).
        migrator.registerMigration("v9-quality") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN quality TEXT")
        }
        // Routing (issue 30): how a routed job's pipeline was chosen (JobRouting, as JSON), and
        // the pipeline each attempt ran on (a routed job may move to another after a failure).
        migrator.registerMigration("v10-routing") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN routing TEXT; ALTER TABLE attempts ADD COLUMN pipeline TEXT")
        }
        return migrator
    }
}
