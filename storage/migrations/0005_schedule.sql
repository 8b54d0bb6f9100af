-- Scheduled adaptation: the teacher's schedule, the one-round-at-a-time lock with a lease,
-- and what the scheduler remembers between runs (failures for backoff, the last round, activity).
-- Rounds themselves are recorded in training_runs (0003), whose trigger says manual|schedule|cli.

-- One row: the schedule a teacher chose. Times of day are the machine's local time ("02:00").
CREATE TABLE schedule_settings (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    mode             TEXT NOT NULL DEFAULT 'off' CHECK (mode IN ('off', 'nightly', 'every_n_hours')),
    time_of_day      TEXT NOT NULL DEFAULT '02:00'
                     CHECK (length(time_of_day) = 5 AND time_of_day GLOB '[0-2][0-9]:[0-5][0-9]'
                            AND time_of_day < '24:00'),
    every_hours      INTEGER NOT NULL DEFAULT 24 CHECK (every_hours BETWEEN 1 AND 168),
    min_new_examples INTEGER NOT NULL DEFAULT 20 CHECK (min_new_examples BETWEEN 0 AND 100000),
    idle_minutes     INTEGER NOT NULL DEFAULT 10 CHECK (idle_minutes BETWEEN 0 AND 1440),
    auto_promote     INTEGER NOT NULL DEFAULT 0 CHECK (auto_promote IN (0, 1)),
    updated_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    updated_by_name  TEXT,
    updated_at       TEXT
);
INSERT INTO schedule_settings (id) VALUES (1);

-- At most one row: the round running now, across the app, the CLI and OS schedulers. Taken in a
-- BEGIN IMMEDIATE transaction; absent = free. A holder renews lease_until while it works; a lock is
-- stale when its holder's process is gone from this host, or (other hosts) its lease ran out.
CREATE TABLE round_lock (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    holder       TEXT NOT NULL,                   -- a fresh token per acquisition
    trigger      TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule', 'cli')),
    pid          INTEGER NOT NULL,
    pid_started  REAL,                            -- the process's start time: a reused pid is not the holder
    host         TEXT NOT NULL,
    acquired_at  TEXT NOT NULL,
    lease_until  TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    log_path     TEXT                             -- where the round writes its log (shown while it runs)
);

-- One row: the scheduler's memory. consecutive_failures drives the backoff and resets on success;
-- last_success_started_at is the cut-off for "newly approved examples"; app_activity_at is the
-- app's last student activity, so a headless --if-due can honour "idle for M minutes".
CREATE TABLE schedule_state (
    id                      INTEGER PRIMARY KEY CHECK (id = 1),
    consecutive_failures    INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_failure_at         TEXT,
    last_failure_message    TEXT,
    last_failure_log        TEXT,
    last_round_trigger      TEXT CHECK (last_round_trigger IN ('manual', 'schedule', 'cli')),
    last_round_started_at   TEXT,
    last_round_finished_at  TEXT,
    last_round_result       TEXT CHECK (last_round_result IN ('running', 'succeeded', 'failed', 'cancelled')),
    last_round_version      INTEGER,
    last_round_log          TEXT,
    last_success_started_at TEXT,
    slot_filled_at          TEXT,                 -- start of the last round that succeeded or was cancelled:
                                                  -- it fills the schedule's slot (a failed one does not)
    app_activity_at         TEXT,
    last_decision_at        TEXT,
    last_decision_reason    TEXT
);
INSERT INTO schedule_state (id) VALUES (1);
