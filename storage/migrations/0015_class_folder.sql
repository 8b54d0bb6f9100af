-- The class folder (storage.classfolder): this desktop's membership, what it sent, what the
-- teacher imported and published.

-- At most one class per data folder. role 'teacher': this desktop holds the signing key (in the
-- data folder, class/teacher-key.pem) and imports; 'student': it pinned the teacher's key at join.
CREATE TABLE class_membership (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    class_id           TEXT NOT NULL,
    name               TEXT NOT NULL,
    folder             TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('teacher', 'student')),
    teacher_public_key TEXT NOT NULL,       -- base64 Ed25519, pinned: later files never change it
    teacher_name       TEXT NOT NULL DEFAULT '',
    model_id           TEXT NOT NULL,
    device_id          TEXT NOT NULL,       -- this desktop's outbox: outbox/<device_id>/
    device_name        TEXT NOT NULL DEFAULT '',
    joined_at          TEXT NOT NULL,
    joined_by_name     TEXT NOT NULL DEFAULT '',
    next_segment       INTEGER NOT NULL DEFAULT 1,
    last_sync_at       TEXT,
    last_sync_note     TEXT                 -- the last sync's refusal or problem, shown in status
);

-- A student desktop: the replies it wrote to its outbox (no foreign key: a deleted message still
-- needs its retraction).
CREATE TABLE class_sent (
    message_id   INTEGER PRIMARY KEY,
    segment      INTEGER NOT NULL,
    sent_at      TEXT NOT NULL,
    retracted_at TEXT,
    retract_reason TEXT
);

-- The teacher's desktop: every exchange imported from the folder, keyed by where it came from, so
-- importing again changes nothing. A retraction that arrives first leaves a row without an import.
CREATE TABLE class_exchanges (
    device_id      TEXT NOT NULL,
    message_id     INTEGER NOT NULL,
    imported_id    INTEGER REFERENCES imported_exchanges(id) ON DELETE SET NULL,
    device_name    TEXT NOT NULL DEFAULT '',
    student_key    TEXT NOT NULL DEFAULT '',
    student_name   TEXT NOT NULL DEFAULT '',
    rating         INTEGER,
    suggestion     TEXT,
    segment        INTEGER NOT NULL,
    received_at    TEXT NOT NULL,
    retracted_at   TEXT,
    retract_reason TEXT,
    PRIMARY KEY (device_id, message_id)
);

-- The teacher's desktop: segments read whole (a truncated one is not listed, and read again).
CREATE TABLE class_segments (
    device_id TEXT NOT NULL,
    segment   INTEGER NOT NULL,
    records   INTEGER NOT NULL,
    read_at   TEXT NOT NULL,
    PRIMARY KEY (device_id, segment)
);
