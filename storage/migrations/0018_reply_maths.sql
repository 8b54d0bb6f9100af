-- What the maths engine computed and changed for a chat reply (learner.types.MathsCheck as a JSON
-- object, written by learner.maths_record.to_json), kept with the reply so a teacher reviewing it
-- sees what was verified, written again, corrected or blocked. NULL: nothing was recorded (a reply
-- from before this migration, a practice reply, or one the engine had nothing to do for).
ALTER TABLE messages ADD COLUMN maths_json TEXT
    CHECK (maths_json IS NULL OR (json_valid(maths_json) AND json_type(maths_json) = 'object'));
