-- The practice tables again, for a database made while 0004_practice.sql was still an empty
-- placeholder: its user_version already counts 0004, so that file never ran there. Every statement
-- is CREATE ... IF NOT EXISTS, so on any other database this changes nothing.


-- One practice question written by the model. The answer key is never shown before an attempt
-- (or an explicit "reveal").
CREATE TABLE IF NOT EXISTS practice_items (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id      INTEGER REFERENCES sessions(id) ON DELETE SET NULL,   -- where it was asked (NULL: CLI)
    source_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL, -- a chat practice reply it came from
    topic           TEXT NOT NULL CHECK (length(trim(topic)) > 0),
    question        TEXT NOT NULL CHECK (length(trim(question)) > 0),
    answer_key      TEXT NOT NULL CHECK (length(trim(answer_key)) > 0),
    difficulty      TEXT NOT NULL DEFAULT 'medium' CHECK (difficulty IN ('easy', 'medium', 'hard')),
    grade           TEXT NOT NULL DEFAULT '',
    model_id        TEXT,
    adapter_version INTEGER,                          -- NULL = base model
    revealed_at     TEXT,                             -- the student asked to see the key
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS practice_items_by_user ON practice_items(user_id, created_at);

-- One answer to an item and the model's judgement of it.
CREATE TABLE IF NOT EXISTS practice_attempts (
    id              INTEGER PRIMARY KEY,
    item_id         INTEGER NOT NULL REFERENCES practice_items(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    answer          TEXT NOT NULL CHECK (length(trim(answer)) > 0 AND length(answer) <= 4000),
    verdict         TEXT NOT NULL CHECK (verdict IN ('correct', 'partly', 'incorrect')),
    feedback        TEXT NOT NULL DEFAULT '',
    model_id        TEXT,
    adapter_version INTEGER,
    disputed        INTEGER NOT NULL DEFAULT 0 CHECK (disputed IN (0, 1)),
    p_known_before  REAL,                             -- mastery of the topic before and after this attempt
    p_known_after   REAL,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS practice_attempts_by_item ON practice_attempts(item_id, id);
CREATE INDEX IF NOT EXISTS practice_attempts_by_user ON practice_attempts(user_id, created_at);

-- A student's "this judgement is wrong". Teachers resolve it: upheld (the verdict stands) or
-- overturned (the teacher's verdict replaces it for the record).
CREATE TABLE IF NOT EXISTS practice_disputes (
    id              INTEGER PRIMARY KEY,
    attempt_id      INTEGER NOT NULL UNIQUE REFERENCES practice_attempts(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason          TEXT NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'upheld', 'overturned')),
    teacher_verdict TEXT CHECK (teacher_verdict IN ('correct', 'partly', 'incorrect')),
    teacher_note    TEXT,
    resolved_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    resolved_by_name TEXT,
    resolved_at     TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS practice_disputes_by_status ON practice_disputes(status, created_at);

-- Mastery now (one row per student and topic) and every value it took (the chart).
CREATE TABLE IF NOT EXISTS mastery (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    topic      TEXT NOT NULL COLLATE NOCASE,
    p_known    REAL NOT NULL CHECK (p_known >= 0 AND p_known <= 1),
    n_attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, topic)
);

CREATE TABLE IF NOT EXISTS mastery_history (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    topic      TEXT NOT NULL COLLATE NOCASE,
    p_known    REAL NOT NULL CHECK (p_known >= 0 AND p_known <= 1),
    attempt_id INTEGER REFERENCES practice_attempts(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mastery_history_by_user ON mastery_history(user_id, topic, id);

-- One spaced-review card per item: the fsrs package's Card as JSON, and its due time (UTC ISO,
-- seconds) copied out so "what is due" is an indexed query.
CREATE TABLE IF NOT EXISTS review_cards (
    item_id    INTEGER PRIMARY KEY REFERENCES practice_items(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    card_json  TEXT NOT NULL CHECK (json_valid(card_json)),
    due        TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS review_cards_due ON review_cards(user_id, due);

-- Every reply the hint-don't-tell guard checked. caught = the first reply gave the key away;
-- outcome says what the student got. The telling rate of an adapter version is
-- caught / checked over its rows (adapter_version NULL = the base model).
CREATE TABLE IF NOT EXISTS guard_events (
    id              INTEGER PRIMARY KEY,
    adapter_version INTEGER,
    model_id        TEXT,
    mode            TEXT NOT NULL CHECK (mode IN ('explain', 'hint', 'practice')),
    caught          INTEGER NOT NULL CHECK (caught IN (0, 1)),
    outcome         TEXT NOT NULL CHECK (outcome IN ('passed', 'regenerated', 'withheld')),
    reason          TEXT NOT NULL DEFAULT '',
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    message_id      INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    item_id         INTEGER REFERENCES practice_items(id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS guard_events_by_adapter ON guard_events(adapter_version, created_at);
