"""Signed record logs in the class folder: numbered files (00000001.json, 00000002.json, …) in one
subfolder (`active/`: which adapter the class uses; `settings/`: what students share), each signed
with the class key. The newest record that carries the pinned teacher key's signature, names this
class and sits under its own number is what the class says; a forged or altered one is skipped.
Only the teacher's desktop (which holds the key) appends."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from storage.classfolder import keys
from storage.classfolder.files import read_json, write_json
from storage.classfolder.membership import Membership

_RECORD = re.compile(r"^(\d{8})\.json$")


def record_files(log: Path) -> list[tuple[int, Path]]:
    """(seq, path) of the numbered records in the folder `log`, newest first ([] without it)."""
    try:
        entries = list(log.iterdir())
    except OSError:
        return []
    return sorted(((int(m.group(1)), p) for p in entries if (m := _RECORD.match(p.name))), reverse=True)


def newest_signed(member: Membership, subfolder: str) -> tuple[int, dict[str, Any]] | None:
    """(seq, body) of the newest validly signed record of this class in `subfolder`, or None."""
    for seq, path in record_files(member.folder / subfolder):
        try:
            body = keys.verify(member.teacher_public_key, read_json(path), what=f"{path}")
        except keys.BadSignature:
            continue
        if body.get("class_id") == member.class_id and body.get("seq") == seq:
            return seq, body
    return None


def append_signed(member: Membership, key: Any, subfolder: str, body: dict[str, Any]) -> int:
    """Sign `body` (with this class's id and the next number) and add it to `subfolder`; a number
    another writer took meanwhile is skipped. Returns the record's number."""
    seq = max([0, *(n for n, _ in record_files(member.folder / subfolder))]) + 1
    while not write_json(member.folder / subfolder / f"{seq:08d}.json",
                         keys.sign(key, {**body, "class_id": member.class_id, "seq": seq})):
        seq += 1
    return seq
