-- Sessions whose end event is still owed (docs/webhooks.md#durability): a publish that sent push_start, a recording
-- file that is open. The row is written in the transaction of the start event and deleted in the transaction of
-- the end event, so after a kill -9 the rows left are exactly the sessions whose end was never stored; the server
-- sends their end event (body: as it will be sent, errcode 1019) when it starts again. node is the server that
-- holds the session (cluster.node_id, else host name and HTTP port); app_id has no foreign key on purpose: an app
-- deleted meanwhile only means nobody is told. started_ms is Unix milliseconds.
CREATE TABLE open_sessions (
    id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    app_id TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    started_ms BIGINT NOT NULL
);
CREATE INDEX open_sessions_node ON open_sessions (node);
