-- Adaptation: adapter versions with their gate figures, training runs, teachers'
-- must-pass prompts, and which examples each version trained on / held out.

-- One row per adapter version (adapters/vN). The folder appears only when complete (temp folder,
-- then rename), so a row exists only for a finished adapter. Every figure of the gate is stored.
CREATE TABLE adapters (
    id                      INTEGER PRIMARY KEY,
    version                 INTEGER NOT NULL UNIQUE CHECK (version >= 1),
    status                  TEXT NOT NULL DEFAULT 'candidate'
                            CHECK (status IN ('candidate', 'active', 'retired', 'failed', 'discarded')),
    created_at              TEXT NOT NULL,
    base_model_id           TEXT NOT NULL,
    path                    TEXT NOT NULL,               -- the adapter folder (PEFT: adapter_config.json + safetensors)
    n_examples              INTEGER NOT NULL DEFAULT 0,  -- approved examples trained on (train split)
    n_heldout               INTEGER NOT NULL DEFAULT 0,
    n_replay                INTEGER NOT NULL DEFAULT 0,
    examples_approved_until TEXT,                        -- newest approved_at among its examples (review counts)
    recipe                  TEXT NOT NULL DEFAULT '{}',  -- JSON: the Recipe it was trained with
    metrics                 TEXT NOT NULL DEFAULT '{}',  -- JSON: losses of candidate, active and base, timings
    gate                    TEXT NOT NULL DEFAULT '{}',  -- JSON: every check with its figures and verdict
    gate_passed             INTEGER CHECK (gate_passed IN (0, 1)),
    gate_reason             TEXT NOT NULL DEFAULT '',    -- why it failed, in words the teacher reads
    run_id                  INTEGER REFERENCES training_runs(id) ON DELETE SET NULL,
    promoted_at             TEXT,
    promoted_by             INTEGER REFERENCES users(id) ON DELETE SET NULL,
    promoted_by_name        TEXT,
    deleted_at              TEXT                         -- the folder was pruned (kept: the last N versions)
);
-- At most one active adapter: the database refuses a second, not only the code.
CREATE UNIQUE INDEX adapters_one_active ON adapters(status) WHERE status = 'active';

CREATE TABLE training_runs (
    id          INTEGER PRIMARY KEY,
    trigger     TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule', 'cli')),
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    version     INTEGER,                             -- the candidate it registered
    pid         INTEGER,                             -- a 'running' row whose pid is gone was killed: failed
    host        TEXT NOT NULL DEFAULT '',
    log_path    TEXT,
    error       TEXT
);
CREATE INDEX training_runs_by_status ON training_runs(status, started_at);

CREATE TABLE must_pass_prompts (
    id            INTEGER PRIMARY KEY,
    prompt        TEXT NOT NULL CHECK (length(trim(prompt)) > 0),
    mode          TEXT NOT NULL DEFAULT 'explain' CHECK (mode IN ('explain', 'hint', 'practice')),
    must_match    TEXT NOT NULL DEFAULT '[]',        -- JSON list of regexes the answer must match (all)
    must_not_match TEXT NOT NULL DEFAULT '[]',       -- JSON list of regexes it must not match (any fails)
    created_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_by_name TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT
);

-- Which examples a version trained on and which it held out: the forgetting check evaluates a new
-- candidate on every earlier version's held-out slice.
CREATE TABLE adapter_examples (
    version    INTEGER NOT NULL REFERENCES adapters(version) ON DELETE CASCADE,
    example_id INTEGER NOT NULL REFERENCES training_examples(id) ON DELETE CASCADE,
    split      TEXT NOT NULL CHECK (split IN ('train', 'heldout')),
    PRIMARY KEY (version, example_id)
);
CREATE INDEX adapter_examples_by_example ON adapter_examples(example_id);
