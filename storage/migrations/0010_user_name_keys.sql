-- Profile names are unique under Unicode's caseless match (NFKC + case folding), not only ASCII's:
-- "Émile" and "émile" are one name. The Python step fills name_key for existing profiles; two that
-- already clash keep their rows, the later one with a key that still tells them apart (a teacher
-- can rename it), and the clash is written to the audit log.
ALTER TABLE users ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX users_by_name_key ON users(name_key);
