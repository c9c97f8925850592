-- Room session keys: the key an app's backend signs a member's room join with (docs/rooms-protocol.md). Stored
-- as given, not hashed: the server needs the key itself to check the HMAC. One per (app, openId); app is the app's
-- id, and the keys go with the app. created_at is Unix milliseconds.
CREATE TABLE room_sessions (
    app TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    open_id TEXT NOT NULL,
    session_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app, open_id)
);
