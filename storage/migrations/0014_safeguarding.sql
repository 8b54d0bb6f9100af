-- Safeguarding alerts: a student message that the screen (learner.safeguarding) flagged, answered
-- with the help text instead of a generated reply. Teachers see and acknowledge them
-- (storage.safeguarding). The text is copied, so an alert outlives the chat it came from: a student
-- deleting the session leaves the alert (its links become NULL). Deleting the student (data rights)
-- deletes their alerts.
--   message_id   the student's flagged message; reply_id the help-text reply stored after it.
--   stage        lexicon (an explicit phrase) | judge_confirmed | judge_unsure | judge_unavailable
--   source       chat (the window) | cli (`tutorloop ask`, no profile or session)
-- A reply at or after a flagged message in the same session never enters the review queue, and a
-- training example made from one is never trained on (storage.review).
CREATE TABLE IF NOT EXISTS safeguarding_alerts (
    id                  INTEGER PRIMARY KEY,
    message_id          INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    reply_id            INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    session_id          INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
    student_id          INTEGER REFERENCES users(id) ON DELETE CASCADE,
    text                TEXT NOT NULL CHECK (length(trim(text)) > 0),
    category            TEXT NOT NULL CHECK (category IN ('self_harm', 'abuse', 'bullying', 'danger')),
    stage               TEXT NOT NULL CHECK (stage IN ('lexicon', 'judge_confirmed', 'judge_unsure', 'judge_unavailable')),
    patterns_json       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(patterns_json) AND json_type(patterns_json) = 'array'),
    judge               TEXT CHECK (judge IN ('yes', 'no', 'unsure', 'unavailable')),
    source              TEXT NOT NULL DEFAULT 'chat' CHECK (source IN ('chat', 'cli')),
    created_at          TEXT NOT NULL,
    acknowledged_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    acknowledged_by_name TEXT,
    acknowledged_at     TEXT,
    note                TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 2000)
);
CREATE INDEX IF NOT EXISTS safeguarding_alerts_by_time ON safeguarding_alerts(acknowledged_at, created_at);
CREATE INDEX IF NOT EXISTS safeguarding_alerts_by_session ON safeguarding_alerts(session_id, message_id);
