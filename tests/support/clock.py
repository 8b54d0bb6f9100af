"""A clock a test moves by hand, for code that takes `clock=` (sign-in delays, throttling)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Stands still at 2026-11-28 12:00 UTC until `advance` moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
