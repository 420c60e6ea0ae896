-- 0003: conversation context — one row per (owner credential, conversation name) and one row per
-- turn (Gemini `content` JSON text, its token estimate), so saving a turn writes that turn, not
-- the whole conversation. `seq` grows within a conversation; `last_used` is Unix seconds.
-- `settings` holds runtime settings (context_ttl_seconds, context_mode), as Hagemi's did.
CREATE TABLE IF NOT EXISTS contexts (
    id           TEXT    PRIMARY KEY,
    owner        TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    last_used    INTEGER NOT NULL,
    UNIQUE (owner, conversation)
);
CREATE INDEX IF NOT EXISTS contexts_last_used ON contexts (last_used);
CREATE TABLE IF NOT EXISTS context_turns (
    context_id TEXT    NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    content    TEXT    NOT NULL,
    tokens     INTEGER NOT NULL,
    PRIMARY KEY (context_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
