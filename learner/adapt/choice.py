"""Which adapter answers students: one policy for the window, `tutorloop ask` and the gate.

By default the active version, but only when it fits the loaded model and its folder is whole;
otherwise the base model, with a sentence saying why. A version asked for by number is used or
refused with that sentence; it is never silently swapped for another.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from learner.adapt.registry import AdapterRegistry
from storage import DataDir, Database, StorageError
from storage import adapters as adapter_versions

ACTIVE: Literal["active"] = "active"


class AdapterUnusable(ValueError):
    """The version asked for cannot answer with this model; the message says why and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterChoice:
    path: Path | None          # None: the base model
    version: int | None
    problem: str | None = None # why the active version is not used (None: nothing to report)


BASE = AdapterChoice(path=None, version=None)


def choose_adapter(data_dir: DataDir, db: Database, model_id: str,
                   wanted: int | Literal["active"] | None = ACTIVE) -> AdapterChoice:
    """The adapter to serve `model_id` with: `wanted` is a version, ACTIVE, or None (the base model).

    Raises AdapterUnusable for a numbered version that is unknown, gone or for another model."""
    if wanted is None:
        return BASE
    registry = AdapterRegistry(data_dir, db)
    if wanted == ACTIVE:
        active = adapter_versions.active_adapter(db)
        if active is None:
            return BASE
        if mismatch := active.mismatch(model_id):
            return AdapterChoice(path=None, version=None, problem=(
                f"{mismatch} Students get {model_id} without an adapter until a round trains one for it "
                "(or the Settings go back to the model it fits)."))
        try:
            return AdapterChoice(path=registry.path_of(active.version), version=active.version)
        except FileNotFoundError as exc:
            return AdapterChoice(path=None, version=None, problem=f"{exc} Using the base model.")
    try:
        if mismatch := adapter_versions.get_adapter(db, wanted).mismatch(model_id):
            raise AdapterUnusable(f"{mismatch} Choose that model with --model, or another version.")
        return AdapterChoice(path=registry.path_of(wanted), version=wanted)
    except (FileNotFoundError, StorageError) as exc:
        raise AdapterUnusable(str(exc)) from None


def parse_adapter_option(text: str | None) -> int | Literal["active"] | None:
    """`--adapter` as the CLI takes it: a version ("3", "v3"), "none"/"base", or absent (the active one)."""
    if text is None:
        return ACTIVE
    text = text.strip().lower()
    if text in ("none", "base"):
        return None
    try:
        return int(text.removeprefix("v"))
    except ValueError:
        raise AdapterUnusable(f"--adapter takes a version number (e.g. 3) or none, not {text!r}.") from None
