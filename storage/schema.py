"""What makes a file a tutorloop database: SQLite's header, our application id, and the numbered
migrations whose count is the schema version this code writes."""
from __future__ import annotations

import re
from importlib import resources

from storage.errors import StorageError

# PRAGMA application_id of every tutorloop database: "TTLP". Another program's SQLite file has its
# own (or 0 and none of our tables), so it is never mistaken for ours and migrated into a mess.
APPLICATION_ID = 0x54544C50
SQLITE_MAGIC = b"SQLite format 3\x00"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file, in order; versions must be 1..N."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        if m := _MIGRATION_NAME.match(entry.name):
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise StorageError(f"migration files are not numbered 1..N: expected {expected:04d}, found {name}")
    return found


def schema_version() -> int:
    """The version this code writes; a database newer than this is refused."""
    return len(migrations())
