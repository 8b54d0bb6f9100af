"""The teacher's Ed25519 key: made once per class, the private half in the teacher's data folder
(0600), the public half in class.json and pinned by every desktop that joins.

Everything the teacher publishes (class.json, adapter manifests, "active = N" records) is a JSON
object signed over its canonical form (sorted keys, no spaces, UTF-8) with the signature added as
`signature` (base64). A desktop checks it with the key it pinned when it joined, never with the key
a file in the folder names.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from storage.errors import StorageError, ValidationError

SIGNATURE = "signature"


class BadSignature(ValidationError):
    """A signed record is unsigned, damaged, or signed by a key other than the class teacher's."""


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def fingerprint(public_key: str) -> str:
    """What a person compares by eye: the first 16 bytes of the key's SHA-256, in groups of four."""
    digest = hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def make_key(path: Path) -> Ed25519PrivateKey:
    """A new key written to `path` (created, never replaced; owner-only permissions, fsynced)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise ValidationError(f"A class signing key already exists at {path}; it was kept. Remove the class "
                              "first (or move that file away) to make a new one.") from None
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    """The teacher's private key; refused when missing, unreadable or readable by other accounts."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise StorageError(f"The class signing key {path} is missing, so nothing can be published. It is made by "
                           "`tutorloop class create` on the teacher's desktop; restore it from a backup of the "
                           "data folder.") from None
    if not stat.S_ISREG(info.st_mode):
        raise StorageError(f"The class signing key {path} is not a regular file; nothing was published.")
    if os.name == "posix" and info.st_mode & 0o077:
        raise StorageError(f"The class signing key {path} can be read by other accounts; run `chmod 600 {path}` "
                           "and try again. Nothing was published.")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise StorageError(f"The class signing key {path} cannot be read ({exc}).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StorageError(f"{path} is not an Ed25519 key.")
    return key


def sign(key: Ed25519PrivateKey, record: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in record.items() if k != SIGNATURE}
    return {**body, SIGNATURE: base64.b64encode(key.sign(canonical(body))).decode("ascii")}


def verify(public_key: str, record: Any, *, what: str) -> dict[str, Any]:
    """The record without its signature, when the pinned key signed exactly this; else BadSignature."""
    if not isinstance(record, dict) or not isinstance(record.get(SIGNATURE), str):
        raise BadSignature(f"{what} is not signed; it was refused.")
    body = {k: v for k, v in record.items() if k != SIGNATURE}
    try:
        signature = base64.b64decode(record[SIGNATURE], validate=True)
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(signature, canonical(body))
    except (InvalidSignature, ValueError):
        raise BadSignature(f"{what} does not carry the class teacher's signature (changed, or signed by another "
                           "key); it was refused.") from None
    return body
