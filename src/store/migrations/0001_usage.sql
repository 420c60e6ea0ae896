-- 0001: per (Pacific day, key group, model) usage counts.
-- `day` is the Pacific calendar day as YYYY-MM-DD (sorts as text); `grp` is the key group
-- (Google Cloud project label); counts only ever grow (upserted with x = x + excluded.x).
CREATE TABLE IF NOT EXISTS usage_daily (
    day           TEXT    NOT NULL,
    grp           TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, grp, model)
) WITHOUT ROWID;
