-- 0003: conversation context — one row per (owner credential, conversation name), the turns in
-- Gemini's `contents` form (JSON array) with a token estimate per turn (JSON array of integers);
-- `last_used` is Unix seconds. `settings` holds runtime settings (context_ttl_seconds,
-- context_mode), as the system this replaces did.
CREATE TABLE IF NOT EXISTS contexts (
    id           TEXT    PRIMARY KEY,
    owner        TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    contents     TEXT    NOT NULL,
    tokens       TEXT    NOT NULL,
    last_used    INTEGER NOT NULL,
    UNIQUE (owner, conversation)
);
CREATE INDEX IF NOT EXISTS contexts_last_used ON contexts (last_used);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
