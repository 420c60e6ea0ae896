-- 0002: proxy keys — client credentials the gateway issues. Only the SHA-256 of a key is stored
-- (`hash`, 32 bytes) with a short display `prefix`; the key itself is shown once, at creation.
-- Times are RFC 3339 UTC text; `models` is a JSON array of names or `*`-globs (NULL = all);
-- `usage_day` is the Pacific day the `day_*` counts belong to.
CREATE TABLE IF NOT EXISTS proxy_keys (
    id                        TEXT    PRIMARY KEY,
    hash                      BLOB    NOT NULL UNIQUE,
    prefix                    TEXT    NOT NULL,
    name                      TEXT    NOT NULL,
    role                      TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    created_at                TEXT    NOT NULL,
    expires_at                TEXT,
    enabled                   INTEGER NOT NULL DEFAULT 1,
    enable_context_completion INTEGER NOT NULL DEFAULT 1,
    models                    TEXT,
    rpm                       INTEGER,
    rpd                       INTEGER,
    last_used_at              TEXT,
    requests_total            INTEGER NOT NULL DEFAULT 0,
    tokens_total              INTEGER NOT NULL DEFAULT 0,
    usage_day                 TEXT,
    requests_day              INTEGER NOT NULL DEFAULT 0,
    tokens_day                INTEGER NOT NULL DEFAULT 0
);
