-- 0004: stored Responses (the OpenAI Responses API's `store` / `previous_response_id`). A model
-- turn that answered a stored response carries that response's id (`response`); the first turn of
-- each stored exchange names the turn it follows (`follows`, 0 for none), so one conversation can
-- hold a tree of responses (a client may continue any earlier response, not only the newest).
-- Both are NULL on ordinary conversation turns, which follow the turn before them.
ALTER TABLE context_turns ADD COLUMN response TEXT;
ALTER TABLE context_turns ADD COLUMN follows INTEGER;
