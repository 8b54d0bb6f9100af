"""One sync of this desktop with its class folder, and the status each side sees.

A student desktop sends its outbox segment, takes in the published adapter, and rewrites its own
status file `devices/<device id>.json` (only it writes that file). The teacher's desktop imports
every whole segment, publishes its active adapter, and reads the status files: per desktop, the
last sync, the segments not imported yet and the adapter version in use.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from storage import adapters as versions
from storage.classfolder import adapters as published
from storage.classfolder.practice import class_settings
from storage.classfolder.files import read_json, write_json
from storage.classfolder.inbox import ImportReport, import_outboxes, pending_segments
from storage.classfolder.membership import (
    Membership,
    is_device_id,
    record_sync,
    require_membership,
)
from storage.classfolder.outbox import SendReport, send
from storage.classfolder.training import import_candidates
from storage.db import Database, utcnow
from storage.errors import StorageError
from storage.review import PromptBuilder
from storage.users import User

DEVICES = "devices"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncReport:
    role: str
    sent: SendReport | None = None
    imported: ImportReport | None = None
    published: published.PublishReport | None = None
    picked_up: published.PickUp | None = None
    candidates: tuple[int, ...] = ()       # versions trained elsewhere, registered as candidates here
    notes: tuple[str, ...] = ()

    @property
    def adapter_changed(self) -> bool:
        return bool(self.picked_up and self.picked_up.changed)

    def summary(self) -> str:
        parts = []
        if self.sent is not None:
            parts.append(f"sent {self.sent.exchanges} exchange(s), {self.sent.retractions} retraction(s)"
                         + (f", {self.sent.practice} practice attempt(s)" if self.sent.practice else ""))
        if self.imported is not None:
            parts.append(f"imported {self.imported.imported} exchange(s) ({self.imported.duplicates} already there), "
                         f"{self.imported.retracted} retraction(s)"
                         + (f", {self.imported.practice} practice attempt(s)" if self.imported.practice else ""))
        if self.published is not None:
            what = f"v{self.published.version}" if self.published.version else "the base model"
            parts.append(f"published {what}" if self.published.published else f"the class uses {what}")
        if self.picked_up is not None:
            what = f"v{self.picked_up.version}" if self.picked_up.version else "the base model"
            parts.append(f"tutor updated to {what}" if self.picked_up.changed else f"tutor on {what}")
        return "; ".join(parts) + ("" if not self.notes else ". " + " ".join(self.notes))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus:
    device_id: str
    device_name: str
    role: str
    last_sync_at: str | None
    pending_segments: int
    incomplete_segments: int
    adapter_version: int | None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassStatus:
    membership: Membership
    adapter_version: int | None
    adapter_since: str | None
    devices: tuple[DeviceStatus, ...]
    share_practice: bool = False       # the teacher's signed class setting

    def headline(self, today: date | None = None) -> str:
        """"Class: 7B, tutor updated today" (what a student sees)."""
        if self.adapter_version is None or not self.adapter_since:
            return f"Class: {self.membership.name}, tutor not updated yet"
        day = datetime.fromisoformat(self.adapter_since).date()
        today = today or datetime.now(UTC).date()
        delta = (today - day).days
        when = "today" if delta <= 0 else "yesterday" if delta == 1 else f"on {day.isoformat()}"
        return f"Class: {self.membership.name}, tutor updated {when}"

    def to_dict(self) -> dict[str, Any]:
        return {**self.membership.to_dict(), "adapter_version": self.adapter_version,
                "adapter_since": self.adapter_since, "headline": self.headline(),
                "share_practice": self.share_practice, "devices": [d.to_dict() for d in self.devices]}


@dataclass(frozen=True, slots=True)
class InUse:
    """The adapter version the desktop's loaded model answers with now (None: the base model)."""
    version: int | None


def _write_device_status(db: Database, member: Membership, in_use: InUse | None) -> None:
    if in_use is None:      # no model loaded here (the CLI): the active version is what it would use
        active = versions.active_adapter(db)
        in_use = InUse(active.version if active else None)
    write_json(member.folder / DEVICES / f"{member.device_id}.json",
               {"device_id": member.device_id, "device_name": member.device_name, "role": member.role,
                "last_sync_at": utcnow(), "adapter_version": in_use.version}, replace=True)


def sync(db: Database, actor: User | None = None, *, prompt_for: PromptBuilder | None = None,
         in_use: InUse | None = None) -> SyncReport:
    """One sync (see the module's docstring). Problems with the folder end in a note, never a
    half-done state: each step is whole on its own. `in_use`: what the window's model answers with,
    reported in this desktop's status file (without it, the active version)."""
    member = require_membership(db)
    if not member.folder.is_dir():
        note = (f"The class folder {member.folder} cannot be reached; check the network drive or the sync tool. "
                "Nothing was synced.")
        record_sync(db, note)
        raise StorageError(note)
    notes: list[str] = []
    if member.is_teacher:
        imported = import_outboxes(db, actor)
        candidates, waiting = import_candidates(db)
        report = published.publish(db)
        notes += list(imported.problems) + waiting
        notes += [f"Candidate v{v} trained elsewhere is ready to review (Teacher ▸ Adaptation…)." for v in candidates]
        result = SyncReport(role="teacher", imported=imported, published=report, notes=tuple(notes),
                            candidates=tuple(candidates))
    else:
        sent = send(db, prompt_for=prompt_for)
        picked = published.pick_up(db)
        if picked.refused:
            notes.append(picked.refused)
        result = SyncReport(role="student", sent=sent, picked_up=picked, notes=tuple(notes))
    if result.adapter_changed:
        in_use = None       # the window swaps to the new version next; report that one
    _write_device_status(db, member, in_use)
    record_sync(db, " ".join(notes) or None)
    return result


def status(db: Database) -> ClassStatus:
    member = require_membership(db)
    active = versions.active_adapter(db)
    devices: list[DeviceStatus] = []
    if member.is_teacher:
        pending = pending_segments(member, db)
        seen: set[str] = set()
        root = member.folder / DEVICES
        for path in sorted(root.glob("*.json")) if root.is_dir() else ():
            data = read_json(path)
            device_id = path.stem
            if not isinstance(data, dict) or not is_device_id(device_id) or device_id == member.device_id:
                continue
            seen.add(device_id)
            waiting, incomplete = pending.get(device_id, (0, 0))
            version = data.get("adapter_version")
            devices.append(DeviceStatus(device_id=device_id, device_name=str(data.get("device_name") or ""),
                                        role=str(data.get("role") or "student"),
                                        last_sync_at=data.get("last_sync_at") if isinstance(data.get("last_sync_at"), str) else None,
                                        pending_segments=waiting, incomplete_segments=incomplete,
                                        adapter_version=version if isinstance(version, int) else None))
        for device_id, (waiting, incomplete) in pending.items():
            if device_id not in seen:
                devices.append(DeviceStatus(device_id=device_id, device_name="", role="student", last_sync_at=None,
                                            pending_segments=waiting, incomplete_segments=incomplete,
                                            adapter_version=None))
    return ClassStatus(membership=member, adapter_version=active.version if active else None,
                       adapter_since=active.promoted_at if active else None, devices=tuple(devices),
                       share_practice=class_settings(member).share_practice)
