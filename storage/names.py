"""Profile names: what may be a name, and the key two names must not share.

A name is shown in lists, audit entries and exports, and typed again to confirm a deletion, so it
must look like what it is: no control characters (a newline would forge a second line in a log),
no bidirectional overrides or zero-width characters (they make "Ana" and "Ana\u200b" two different
teachers that look the same), at most MAX_NAME_CHARS characters.

Uniqueness is Unicode's caseless match (NFKC, then case folding, then NFKC again), so "Émile",
"émile" and "ＥＭＩＬＥ"-style compatibility forms are one name, not only ASCII letters as SQLite's
NOCASE would have it.
"""
from __future__ import annotations

import unicodedata

from storage.errors import ValidationError

MAX_NAME_CHARS = 64
# Unicode general categories refused anywhere in a name: controls (Cc), format characters (Cf:
# bidi overrides and isolates, zero-width space/joiners, the BOM), surrogates (Cs), private use
# (Co), unassigned code points (Cn), and line/paragraph separators (Zl, Zp).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean_name(raw: object, what: str = "The name") -> str:
    """The name to store: NFKC-normalised, surrounding spaces removed, inner runs of spaces made one.
    ValidationError saying what is wrong otherwise."""
    if not isinstance(raw, str):
        raise ValidationError(f"{what} must be text.")
    for char in raw:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ValidationError(f"{what} contains an invisible or control character "
                                  f"(U+{ord(char):04X} {_char_name(char)}); type it again with letters, "
                                  "digits, spaces and punctuation only.")
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise ValidationError(f"{what} is empty.")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError(f"{what} is {len(name):,} characters long; the limit is {MAX_NAME_CHARS}.")
    return name


def name_key(name: str) -> str:
    """The caseless key of a cleaned name: two profiles may not share one. Total on any string (old
    rows are keyed by a migration before anything else validates them)."""
    text = " ".join(unicodedata.normalize("NFKC", name).split())
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _char_name(char: str) -> str:
    try:
        return unicodedata.name(char)
    except ValueError:
        return "unnamed"
