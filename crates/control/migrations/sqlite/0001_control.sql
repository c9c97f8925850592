-- The control plane's schema for SQLite. Keep it equivalent to ../postgres/0001_control.sql: the same tables,
-- columns, constraints and indexes. Only portable types: BIGINT (integers, 0/1 booleans, Unix milliseconds) and
-- TEXT, so that the same queries through sqlx's Any driver decode the same on both backends.

-- A counter bumped in the same transaction as every change to apps, channels or forbids: a running server polls
-- it to notice changes made by another process (the CLI, another server).
CREATE TABLE revision (
    id BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);

-- Small named values (the admin token's SHA-256).
CREATE TABLE settings (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE apps (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    push_key TEXT NOT NULL,
    play_key TEXT NOT NULL,
    secret TEXT NOT NULL,
    callback_key TEXT NOT NULL,
    -- A JSON array of strings.
    callback_urls TEXT NOT NULL DEFAULT '[]',
    push_auth BIGINT NOT NULL CHECK (push_auth IN (0, 1)),
    play_auth BIGINT NOT NULL CHECK (play_auth IN (0, 1)),
    gop_cache BIGINT NOT NULL CHECK (gop_cache IN (0, 1)),
    low_latency BIGINT NOT NULL CHECK (low_latency IN (0, 1)),
    republish_grace_ms BIGINT,
    max_streams BIGINT,
    max_players BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE channels (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    title TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, channel)
);

CREATE TABLE forbids (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    stream TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    reason TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, stream)
);

-- The webhook outbox. app_id is deliberately not a foreign key: the delivery log outlives a deleted app.
-- AUTOINCREMENT so that ids are never reused after deletes, like PostgreSQL's identity column.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    last_error TEXT,
    next_attempt_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    delivered_ms BIGINT,
    last_attempt_ms BIGINT
);
CREATE INDEX webhooks_due ON webhooks (state, next_attempt_ms);
CREATE INDEX webhooks_app ON webhooks (app_id, id);
