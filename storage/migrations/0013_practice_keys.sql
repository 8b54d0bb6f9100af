-- Practice items whose answer keys the maths engine computed or checked, and what it needs to judge
-- an answer by equivalence. Rows from before this migration read as what they were: a key the
-- model wrote that nothing checked.
--   checked          1 = the key was computed by the engine (a generator), or recomputed and found
--                    (or made) right; 0 = nobody could verify it, so the student is told so.
--   key_source       generator | model | model_verified | model_corrected (the model's key was
--                    wrong and replaced by the computed one; model_answer_key keeps what it said).
--   key_note         one sentence on how the key was checked, for a teacher.
--   tolerance        the absolute difference an answer may have, as an exact fraction ("1/100").
--   wrong_answers_json  [{"answer", "values": ["1/3"], "code", "name", "hint"}]: the wrong answers
--                    known misconceptions give, so a verdict can name the mistake.
--   worked_steps_json   ["2/3 = 4/6", "4/6 + 1/6 = 5/6"]
ALTER TABLE practice_items ADD COLUMN checked INTEGER NOT NULL DEFAULT 0 CHECK (checked IN (0, 1));
ALTER TABLE practice_items ADD COLUMN key_source TEXT NOT NULL DEFAULT 'model'
    CHECK (key_source IN ('generator', 'model', 'model_verified', 'model_corrected'));
ALTER TABLE practice_items ADD COLUMN key_note TEXT NOT NULL DEFAULT '';
ALTER TABLE practice_items ADD COLUMN model_answer_key TEXT;
ALTER TABLE practice_items ADD COLUMN require_simplest INTEGER NOT NULL DEFAULT 0 CHECK (require_simplest IN (0, 1));
ALTER TABLE practice_items ADD COLUMN tolerance TEXT NOT NULL DEFAULT '0';
ALTER TABLE practice_items ADD COLUMN wrong_answers_json TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(wrong_answers_json) AND json_type(wrong_answers_json) = 'array');
ALTER TABLE practice_items ADD COLUMN worked_steps_json TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(worked_steps_json) AND json_type(worked_steps_json) = 'array');

-- The misconception a judged answer matched (its code, e.g. fraction_added_across), NULL when none.
ALTER TABLE practice_attempts ADD COLUMN misconception TEXT;
