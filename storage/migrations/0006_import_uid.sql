-- An exported example carries its split id (metadata.uid). Importing it keeps that id, so the
-- example lands in the same train / held-out split on every machine and after every re-import:
-- an example that was held out never trains because a school moved its data.
ALTER TABLE imported_exchanges ADD COLUMN uid TEXT;   -- NULL: the approval draws a fresh one
