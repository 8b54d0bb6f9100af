"""The class folder: one folder every desktop of a class can reach (a network drive, a Syncthing
or OneDrive folder) that carries student exchanges to the teacher and signed adapters back.

    class.json                       class id, name, teacher's public key (Ed25519), model id; signed
    outbox/<device id>/00000001.jsonl  a desktop's exchanges, feedback and retractions (segments)
    devices/<device id>.json         a desktop's last sync and adapter in use (only it writes it)
    adapters/v7/…                    a published version: its files + a signed manifest
    active/00000003.json             signed "the class uses v7" (or null: the base model)
    settings/00000002.json           signed class settings: "share practice attempts" on or off

No file is written by two desktops and none is rewritten except a desktop's own status file, so a
sync tool never sees a conflict; every file appears by renaming a whole temporary file. Trust:
desktops pin the teacher's key when they join; adapters and active records are taken only when
that key signed them and every file matches the signed SHA-256. Nothing here needs a server, an
open port or anything beyond the app.
"""
from __future__ import annotations

from storage.classfolder.adapters import (
    AdapterRefused,
    PickUp,
    PublishReport,
    pick_up,
    publish,
    verify_version,
)
from storage.classfolder.inbox import ImportReport, import_outboxes
from storage.classfolder.keys import BadSignature, fingerprint
from storage.classfolder.membership import (
    ClassInfo,
    Membership,
    NotInClass,
    create_class,
    join_class,
    leave_class,
    membership,
    read_class_file,
    require_membership,
)
from storage.classfolder.outbox import SendReport, send
from storage.classfolder.sync import (
    ClassStatus,
    DeviceStatus,
    InUse,
    SyncReport,
    status,
    sync,
)

__all__ = ["AdapterRefused", "BadSignature", "ClassInfo", "ClassStatus", "DeviceStatus", "ImportReport", "InUse", "Membership",
           "NotInClass", "PickUp", "PublishReport", "SendReport", "SyncReport", "create_class", "fingerprint",
           "import_outboxes", "join_class", "leave_class", "membership", "pick_up", "publish", "read_class_file",
           "require_membership", "send", "status", "sync", "verify_version"]
