-- Teacher review: decisions, immutable training examples, audit log, login throttling.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;      -- ISO time before which no attempt is checked

-- Imported exchanges waiting for review (tutorloop review import --as pending). They go through the
-- same queue as chat replies; approving one writes a training example, exactly like a reply.
CREATE TABLE imported_exchanges (
    id             INTEGER PRIMARY KEY,
    prompt_json    TEXT NOT NULL,                    -- [{"role","content"}, ...] ending with the student
    completion     TEXT NOT NULL,
    mode           TEXT,
    topic          TEXT NOT NULL DEFAULT '',
    grade          TEXT NOT NULL DEFAULT '',
    source_ref     TEXT NOT NULL,                    -- "file.jsonl:12", "mathdial:5000794#3"
    content_sha256 TEXT NOT NULL,                    -- of prompt + completion: finds duplicate imports
    imported_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    batch          TEXT NOT NULL,                    -- one id per import run
    created_at     TEXT NOT NULL
);
CREATE INDEX imported_exchanges_by_content ON imported_exchanges(content_sha256);

-- The exact prompt a chat reply was generated from (after any trimming to the context window),
-- recorded by the chat when the reply is produced. Approval snapshots it verbatim, so later edits
-- to prompt files cannot change what is learned; replies without one get their prompt rendered
-- at approval by the caller (storage.review.approve's prompt_for).
CREATE TABLE reply_prompts (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    prompt_json TEXT NOT NULL,                       -- [{"role","content"}, ...] ending with the student's turn
    created_at  TEXT NOT NULL
);

-- A training example is a snapshot written at approval: the exact prompt context and completion.
-- Later edits to the chat or to prompt files never reach it.
CREATE TABLE training_examples (
    id                  INTEGER PRIMARY KEY,
    uid                 TEXT NOT NULL UNIQUE,        -- stable id; its hash picks the held-out split
    prompt_json         TEXT NOT NULL,               -- [{"role","content"}, ...] system + earlier turns + student
    completion          TEXT NOT NULL,
    original_completion TEXT,                        -- what the model (or the import) said, when a teacher edited it
    mode                TEXT,
    topic               TEXT NOT NULL DEFAULT '',
    grade               TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL DEFAULT 'approved' CHECK (status IN ('approved', 'retracted')),
    student_id          INTEGER REFERENCES users(id) ON DELETE CASCADE,  -- data rights: leaves with the student
    approved_by         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    approved_by_name    TEXT NOT NULL,               -- kept when the teacher's profile is deleted
    approved_at         TEXT NOT NULL,
    retracted_at        TEXT,                        -- undo of an approval: kept for provenance, never trained on again
    source              TEXT NOT NULL CHECK (source IN ('review', 'import')),
    source_message_ids  TEXT NOT NULL DEFAULT '[]',  -- JSON list of messages.id (student message, reply)
    source_ref          TEXT NOT NULL DEFAULT '',    -- imports: where it came from
    content_sha256      TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE INDEX training_examples_by_status ON training_examples(status, approved_at);
CREATE INDEX training_examples_by_content ON training_examples(content_sha256);
CREATE INDEX training_examples_by_student ON training_examples(student_id);

-- Training examples never change: an adapter's training data must stay what it was. The only
-- allowed changes are approved -> retracted (undo) and approved_by -> NULL (the teacher's profile
-- was deleted; approved_by_name keeps who it was). Deleting rows stays possible: that is how a
-- student's data leaves (data rights).
CREATE TRIGGER training_examples_are_immutable
BEFORE UPDATE ON training_examples
WHEN NEW.uid IS NOT OLD.uid
    OR NEW.prompt_json IS NOT OLD.prompt_json
    OR NEW.completion IS NOT OLD.completion
    OR NEW.original_completion IS NOT OLD.original_completion
    OR NEW.mode IS NOT OLD.mode
    OR NEW.topic IS NOT OLD.topic
    OR NEW.grade IS NOT OLD.grade
    OR NEW.student_id IS NOT OLD.student_id
    OR NEW.approved_by_name IS NOT OLD.approved_by_name
    OR NEW.approved_at IS NOT OLD.approved_at
    OR NEW.source IS NOT OLD.source
    OR NEW.source_message_ids IS NOT OLD.source_message_ids
    OR NEW.source_ref IS NOT OLD.source_ref
    OR NEW.content_sha256 IS NOT OLD.content_sha256
    OR NEW.created_at IS NOT OLD.created_at
    OR (NEW.approved_by IS NOT OLD.approved_by AND NEW.approved_by IS NOT NULL)
    OR NOT (NEW.status = OLD.status OR (OLD.status = 'approved' AND NEW.status = 'retracted'))
    OR (OLD.status = 'retracted' AND NEW.retracted_at IS NOT OLD.retracted_at)
BEGIN
    SELECT RAISE(ABORT, 'approved training examples are immutable');
END;

-- One row per teacher decision on a chat reply (message_id) or an imported exchange (imported_id).
-- An approval also names the snapshot it wrote (example_id). Undo marks the row undone instead of
-- deleting it, so the history stays readable; rejections keep their reasons.
CREATE TABLE reviews (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    imported_id  INTEGER REFERENCES imported_exchanges(id) ON DELETE CASCADE,
    example_id   INTEGER REFERENCES training_examples(id) ON DELETE SET NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('approved', 'edited', 'rejected')),
    reason       TEXT CHECK (decision != 'rejected' OR length(trim(reason)) > 0),  -- required for rejections
    teacher_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    teacher_name TEXT NOT NULL,
    batch        TEXT NOT NULL,                      -- one id per action: a bulk approve is undone as one
    created_at   TEXT NOT NULL,
    undone_at    TEXT,
    CHECK ((message_id IS NULL) != (imported_id IS NULL))
);
CREATE INDEX reviews_by_teacher ON reviews(teacher_id, id);
CREATE INDEX reviews_by_batch ON reviews(batch);
CREATE INDEX reviews_by_example ON reviews(example_id);
-- At most one standing decision per reply or imported exchange: a second approve is refused by
-- the database too, not only by the code that checks first.
CREATE UNIQUE INDEX reviews_one_standing_per_message ON reviews(message_id)
    WHERE undone_at IS NULL AND message_id IS NOT NULL;
CREATE UNIQUE INDEX reviews_one_standing_per_import ON reviews(imported_id)
    WHERE undone_at IS NULL AND imported_id IS NOT NULL;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    actor_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor_name TEXT NOT NULL,                        -- kept even if the user is deleted
    action     TEXT NOT NULL,                        -- "review.approve", "student.delete", ...
    target     TEXT NOT NULL DEFAULT '',
    details    TEXT NOT NULL DEFAULT '{}',           -- JSON
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log(created_at);
