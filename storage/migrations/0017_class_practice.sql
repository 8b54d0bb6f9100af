-- Practice attempts through the class folder (storage.classfolder.practice), when the teacher's
-- signed class setting "share practice attempts" is on.

-- A student desktop: the practice attempts it wrote to its outbox (no foreign key: an attempt
-- deleted later stays sent).
CREATE TABLE class_practice_sent (
    attempt_id INTEGER PRIMARY KEY,
    segment    INTEGER NOT NULL,
    sent_at    TEXT NOT NULL
);

-- The teacher's desktop: every practice attempt imported from the folder, keyed by where it came
-- from, so importing again changes nothing.
CREATE TABLE class_practice (
    device_id    TEXT NOT NULL,
    attempt_id   INTEGER NOT NULL,
    device_name  TEXT NOT NULL DEFAULT '',
    student_key  TEXT NOT NULL DEFAULT '',
    student_name TEXT NOT NULL DEFAULT '',
    topic        TEXT NOT NULL DEFAULT '',
    question     TEXT NOT NULL DEFAULT '',
    answer       TEXT NOT NULL DEFAULT '',
    verdict      TEXT NOT NULL CHECK (verdict IN ('correct', 'partly', 'incorrect')),
    attempted_at TEXT NOT NULL,
    segment      INTEGER NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (device_id, attempt_id)
);
CREATE INDEX class_practice_by_student ON class_practice(device_id, student_key);
