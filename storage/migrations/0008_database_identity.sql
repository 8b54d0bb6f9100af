-- Every tutorloop database says so in its header (PRAGMA application_id, "TTLP"), so another
-- program's SQLite file is never taken for ours and migrated. database_info gives this database a
-- random id; each adapter folder a round makes records it, so a folder made for another database
-- (a copy of the data folder, a backup restored over a newer file) is never swept as an orphan.
PRAGMA application_id = 1414810704;   -- 0x54544C50, storage.schema.APPLICATION_ID

CREATE TABLE database_info (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    database_id TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO database_info (id, database_id, created_at)
VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'));
