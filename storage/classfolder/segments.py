"""Outbox segments: outbox/<device id>/00000001.jsonl, 00000002.jsonl, ... one writer per folder,
never rewritten.

    {"type": "segment", "format": 1, "class_id": …, "device_id": …, "segment": 7, "created_at": …}
    {"type": "exchange", "message_id": 41, "student": {…}, "prompt": […], "completion": …, …}
    {"type": "feedback", "message_id": 41, "rating": -1, "suggestion": …}
    {"type": "retract", "message_id": 41, "reason": "private" | "deleted"}
    {"type": "end", "records": 3, "sha256": <of every byte before this line>}

A file without its end line or with another checksum (a crash mid-write, a sync tool still
copying) is not read, and everything after it waits too, so records are applied in order.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
_NAME = re.compile(r"^(\d{8})\.jsonl$")
MAX_SEGMENT_BYTES = 64 * 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    header: dict[str, Any]
    records: tuple[dict[str, Any], ...]


def segment_name(number: int) -> str:
    return f"{number:08d}.jsonl"


def segment_number(path: Path) -> int | None:
    found = _NAME.match(path.name)
    return int(found.group(1)) if found else None


def list_segments(folder: Path) -> list[tuple[int, Path]]:
    """(number, path) of every segment file in an outbox, in order (temporary files are not listed)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted((n, p) for p in entries if (n := segment_number(p)) is not None)


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


def encode(header: dict[str, Any], records: list[dict[str, Any]]) -> bytes:
    body = _line({"type": "segment", "format": FORMAT, **header}) + b"".join(_line(r) for r in records)
    return body + _line({"type": "end", "records": len(records), "sha256": hashlib.sha256(body).hexdigest()})


def decode(data: bytes) -> Segment | None:
    """The segment, or None when it is not whole yet (no end line, or the checksum differs)."""
    if not data.endswith(b"\n"):
        return None
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    if cut <= 0:
        return None
    body, last = data[:cut], data[cut:]
    try:
        end = json.loads(last)
        lines = [json.loads(line) for line in body.splitlines()]
    except (ValueError, RecursionError):
        return None
    if not isinstance(end, dict) or end.get("type") != "end" or end.get("sha256") != hashlib.sha256(body).hexdigest():
        return None
    if not lines or not all(isinstance(x, dict) for x in lines) or lines[0].get("type") != "segment":
        return None
    if end.get("records") != len(lines) - 1:
        return None
    return Segment(header=lines[0], records=tuple(lines[1:]))


def read(path: Path) -> Segment | None:
    try:
        if path.stat().st_size > MAX_SEGMENT_BYTES:
            return None
        return decode(path.read_bytes())
    except OSError:
        return None
