-- Interruption records (docs/api.md#interruptions): one row per push that ended, whatever ended it. Written in the
-- transaction that stores the push's push_end (and deletes its open_sessions row), so a kill -9 loses none: the
-- next start writes the record of a push it cut (reason 'restart'). session is the push's webhook sequence: a
-- second write for one push (a retried transaction) is ignored. app is the app's name, kept as it was (no foreign
-- key: the records outlive a deleted app). Times are Unix milliseconds; duration_ms is NULL when unknown (a push
-- cut by a crash). Rows older than [interruptions] retention_days are pruned.
-- AUTOINCREMENT: ids are never reused after prunes, like PostgreSQL's identity column.
CREATE TABLE interruptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL UNIQUE,
    node TEXT NOT NULL,
    app TEXT NOT NULL,
    stream TEXT NOT NULL,
    publisher TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    ended_ms BIGINT NOT NULL,
    duration_ms BIGINT,
    errcode BIGINT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX interruptions_ended ON interruptions (ended_ms);
CREATE INDEX interruptions_stream ON interruptions (app, stream, ended_ms);
