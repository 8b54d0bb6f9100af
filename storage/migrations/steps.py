"""The parts of migrations that SQL cannot express, keyed by migration number.

storage.db runs each one inside the transaction of its SQL file, right after the SQL and before
the version bump, so a failure leaves the database at the previous version. A step gets the raw
connection and the database's path (None for an in-memory database).
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from storage.adapter_files import compute_manifest, data_root_of, stored_path, structure_problem
from storage.names import name_key
from storage.prompt_store import PromptWriter, chain_digest, content_hash_of, load_prompts

Step = Callable[[sqlite3.Connection, Path | None], None]


def _relative_adapter_paths(conn: sqlite3.Connection, db_path: Path | None) -> None:
    """Absolute adapter paths inside this data folder become relative; older versions whose folder
    is still a complete adapter get their manifest (what is there now is what gets verified later)."""
    root = data_root_of(db_path) if db_path is not None else None
    for version, path in conn.execute("SELECT version, path FROM adapters").fetchall():
        folder = Path(path)
        if root is not None and folder.is_absolute():
            relative = stored_path(folder, root)
            if not Path(relative).is_absolute():
                conn.execute("UPDATE adapters SET path = ? WHERE version = ?", (relative, version))
                folder = root / relative
        if folder.is_absolute() and structure_problem(folder) is None:
            conn.execute("UPDATE adapters SET manifest = ? WHERE version = ?",
                         (json.dumps(compute_manifest(folder), sort_keys=True), version))


def _user_name_keys(conn: sqlite3.Connection, db_path: Path | None) -> None:
    taken: dict[str, int] = {}
    for user_id, name in conn.execute("SELECT id, name FROM users ORDER BY id").fetchall():
        key = name_key(name)
        if key in taken:
            conn.execute(
                "INSERT INTO audit_log (actor_id, actor_name, action, target, details, created_at) "
                "VALUES (NULL, '(system)', 'users.name_clash', ?, ?, ?)",
                (f"user:{user_id}", json.dumps({"name": name, "same_as_user": taken[key]}, ensure_ascii=False),
                 datetime.now(timezone.utc).isoformat(timespec="seconds")))
            key = f"{key}\x1f{user_id}"   # still unique; rename the profile to settle it
        taken.setdefault(key, user_id)
        conn.execute("UPDATE users SET name_key = ? WHERE id = ?", (key, user_id))


def _prompt_chains(conn: sqlite3.Connection, db_path: Path | None) -> None:
    writer = PromptWriter(conn)
    for table, key in (("training_examples", "id"), ("reply_prompts", "message_id")):
        rows = conn.execute(f"SELECT {key}, prompt_json FROM {table} WHERE prompt_json != '' "
                            f"ORDER BY {key}").fetchall()
        for ident, text in rows:
            pairs = _pairs(text)
            if pairs is None:
                continue   # not a list of messages: left as it was, still readable as JSON
            node, _digest = writer.store(pairs)
            if [(m["role"], m["content"]) for m in load_prompts(conn, [node])[node]] != pairs:
                raise RuntimeError(f"{table} {ident}: the stored prompt does not read back the same")
            conn.execute(f"UPDATE {table} SET prompt_node = ?, prompt_json = '' WHERE {key} = ?", (node, ident))
    # Content hashes in the new form, so duplicates are still found across old and new rows.
    for ident, node, text, completion in conn.execute(
            "SELECT id, prompt_node, prompt_json, completion FROM training_examples").fetchall():
        pairs = ([(m["role"], m["content"]) for m in load_prompts(conn, [node])[node]] if node is not None
                 else _pairs(text))
        if pairs is not None:
            conn.execute("UPDATE training_examples SET content_sha256 = ? WHERE id = ?",
                         (content_hash_of(chain_digest(pairs), completion), ident))
    for ident, text, completion in conn.execute(
            "SELECT id, prompt_json, completion FROM imported_exchanges").fetchall():
        pairs = _pairs(text)
        if pairs is not None:
            conn.execute("UPDATE imported_exchanges SET content_sha256 = ? WHERE id = ?",
                         (content_hash_of(chain_digest(pairs), completion), ident))


def _pairs(text: str) -> list[tuple[str, str]] | None:
    """(role, content) of a stored prompt's JSON, or None when it is not a list of messages."""
    try:
        pairs = [(m["role"], m["content"]) for m in json.loads(text)]
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    if not pairs or not all(role in ("system", "user", "assistant") and isinstance(content, str)
                            for role, content in pairs):
        return None
    return pairs


STEPS: dict[int, Step] = {
    9: _relative_adapter_paths,
    10: _user_name_keys,
    11: _prompt_chains,
}
