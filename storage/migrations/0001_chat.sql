-- The chat slice: profiles, sessions, messages, feedback, settings.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
    role          TEXT NOT NULL DEFAULT 'student' CHECK (role IN ('student', 'teacher')),
    grade         TEXT NOT NULL DEFAULT '',          -- shapes the prompts ("7", "university", ...)
    password_hash TEXT,                              -- teachers only; scrypt, see storage/auth.py
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    topic      TEXT NOT NULL DEFAULT '',             -- subject, e.g. "Fractions", "Photosynthesis"
    private    INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1)),  -- "don't use for learning"
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id, updated_at);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    mode            TEXT CHECK (mode IN ('explain', 'hint', 'practice')),
    answer_key      TEXT,                            -- practice mode: revealed on request
    model_id        TEXT,                            -- assistant rows: which base model answered
    adapter_version INTEGER,                         -- assistant rows: NULL = base model
    status          TEXT NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('generating', 'complete', 'stopped', 'failed')),
    notice          TEXT,                            -- e.g. "trimmed to fit the context window"
    created_at      TEXT NOT NULL
);
CREATE INDEX messages_by_session ON messages(session_id, id);

CREATE TABLE feedback (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    rating     INTEGER CHECK (rating IN (-1, 1)),    -- 👎 / 👍 / NULL
    suggestion TEXT,                                 -- "Suggest a better answer"
    updated_at TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                              -- JSON
);
