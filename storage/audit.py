"""The audit log: who did what, when. Every teacher action writes one entry in the same transaction
as the action itself, so the log and the data never disagree."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storage.db import Database, end_of, utcnow
from storage.errors import ValidationError
from storage.safe_write import write_text_file
from storage.users import User, require_teacher

SYSTEM_ACTOR = "(system)"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: int
    actor_id: int | None
    actor_name: str
    action: str
    target: str
    details: dict[str, Any]
    created_at: str


def record(db: Database, actor: User | None, action: str, *, target: str = "",
           details: dict[str, Any] | None = None) -> int:
    """Append one entry; joins the caller's transaction when there is one."""
    with db.transaction() as t:
        return t["audit_log"].insert({
            "actor_id": actor.id if actor else None,
            "actor_name": actor.name if actor else SYSTEM_ACTOR,
            "action": action,
            "target": target,
            "details": json.dumps(details or {}, ensure_ascii=False, sort_keys=True),
            "created_at": utcnow(),
        }).last_pk


def list_entries(db: Database, actor: User, *, action_prefix: str | None = None, actor_name: str | None = None,
                 since: str | None = None, until: str | None = None, limit: int | None = None) -> list[AuditEntry]:
    """Newest first. `since`/`until` are ISO dates or times (until is inclusive of that day)."""
    require_teacher(actor, db)
    where, params = [], []
    if action_prefix:
        where.append("action LIKE ? ESCAPE '\\'")
        params.append(action_prefix.replace("%", "\\%").replace("_", "\\_") + "%")
    if actor_name:
        where.append("actor_name = ? COLLATE NOCASE")
        params.append(actor_name)
    if since:
        where.append("created_at >= ?")
        params.append(since)
    if until:
        where.append("created_at < ?")
        params.append(end_of(until))
    sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [AuditEntry(**{**row, "details": json.loads(row["details"])}) for row in db.query(sql, tuple(params))]


CSV_COLUMNS = ("id", "created_at", "actor_name", "actor_id", "action", "target", "details")


def entries_to_csv(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for entry in entries:
        row = asdict(entry)
        row["details"] = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
        writer.writerow({k: row[k] for k in CSV_COLUMNS})
    return out.getvalue()


def entries_to_json(entries: list[AuditEntry]) -> str:
    return json.dumps([asdict(e) for e in entries], ensure_ascii=False, indent=2)


def export_entries(db: Database, actor: User, path: Path | str, *, fmt: str = "csv", **filters: Any) -> int:
    """Write the (filtered) log to `path` as CSV or JSON, whole or not at all (storage.safe_write);
    the export itself is logged. Returns the count."""
    if fmt not in ("csv", "json"):
        raise ValidationError(f"Unknown audit export format {fmt!r}: expected csv or json.")
    entries = list_entries(db, actor, **filters)
    text = entries_to_csv(entries) if fmt == "csv" else entries_to_json(entries)
    target = write_text_file(path, lambda out: out.write(text), what="The audit log export",
                             protect=(db.path,) if isinstance(db.path, Path) else ())
    record(db, actor, "audit.export", target=str(target), details={"format": fmt, "entries": len(entries)})
    return len(entries)
