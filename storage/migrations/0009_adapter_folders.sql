-- Adapter folders are stored relative to the data folder ("adapters/v3"), and every version keeps
-- the SHA-256 of each of its files, checked before it is promoted or loaded. The Python step
-- (storage.migrations.steps) rewrites absolute paths that lie inside this database's data folder
-- and hashes the folders of older versions that are still complete; paths outside stay absolute
-- and are never deleted.
ALTER TABLE adapters ADD COLUMN manifest TEXT;       -- JSON {file: {"size", "sha256"}}; NULL: unverifiable
