-- Teacher review: decisions, immutable training examples, audit log, login throttling.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;      -- ISO time before which no attempt is checked

CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER REFERENCES messages(id) ON DELETE CASCADE,          -- a chat reply, or
    example_id  INTEGER REFERENCES training_examples(id) ON DELETE CASCADE, -- an imported pending example
    decision    TEXT NOT NULL CHECK (decision IN ('approved', 'edited', 'rejected')),
    reason      TEXT,                                -- required for rejections
    teacher_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    undone_at   TEXT,                                -- "Undo the last decision"
    CHECK ((message_id IS NULL) != (example_id IS NULL))
);
CREATE INDEX reviews_by_message ON reviews(message_id);

-- An approved example is a snapshot: the exact prompt context and completion at approval time.
CREATE TABLE training_examples (
    id                 INTEGER PRIMARY KEY,
    uid                TEXT NOT NULL UNIQUE,         -- stable id; its hash picks the held-out split
    prompt_json        TEXT NOT NULL,                -- [{"role","content"}, ...] system + earlier turns + student
    completion         TEXT NOT NULL,
    mode               TEXT,
    topic              TEXT NOT NULL DEFAULT '',
    grade              TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT 'approved' CHECK (status IN ('pending', 'approved', 'rejected', 'retracted')),
    student_id         INTEGER REFERENCES users(id) ON DELETE CASCADE,
    approved_by        INTEGER REFERENCES users(id) ON DELETE SET NULL,
    approved_at        TEXT,
    source             TEXT NOT NULL CHECK (source IN ('review', 'import')),
    source_message_ids TEXT NOT NULL DEFAULT '[]',  -- JSON list of messages.id
    created_at         TEXT NOT NULL
);
CREATE INDEX training_examples_by_status ON training_examples(status, approved_at);

CREATE TRIGGER training_examples_are_immutable
BEFORE UPDATE OF uid, prompt_json, completion ON training_examples
WHEN OLD.status = 'approved'
BEGIN
    SELECT RAISE(ABORT, 'approved training examples are immutable');
END;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    actor_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor_name TEXT NOT NULL,                        -- kept even if the user is deleted
    action     TEXT NOT NULL,                        -- "review.approve", "student.delete", ...
    target     TEXT NOT NULL DEFAULT '',
    details    TEXT NOT NULL DEFAULT '{}',           -- JSON
    created_at TEXT NOT NULL
);
