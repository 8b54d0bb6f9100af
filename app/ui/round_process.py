"""One runner for an adaptation round in a subprocess (`python -m learner.adapt --json …`), used by
the Adaptation window's "Train now" and by the scheduler alike.

The round prints one JSON object per line on stdout; `RoundProcess` turns each into a typed
`RoundEvent` and, when the process ends, gives one `RoundOutcome` that gathers what the round said
about itself. stderr (warnings, a crash's traceback) always goes to a log file of its own: the
round's own log only exists once it has taken the round lock, and a process that dies before that
must still leave a trace. Cancel is SIGTERM (the round records itself as cancelled), then a kill
after a grace period.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal, Slot

import app.ui.qt_compat  # noqa: F401  - before any Qt use; see the module

CANCEL_GRACE_MS = 15_000     # after terminate(), how long the round may take to record itself
EXIT_CANCELLED = 130         # the round's exit status when it was cancelled


def describe_eta(seconds: float | None) -> str:
    """A round's time left, in the few words a status bar has room for ("ETA 3 min")."""
    if seconds is None or seconds < 0:
        return ""
    if seconds < 90:
        return f"ETA {int(seconds)} s"
    if seconds < 90 * 60:
        return f"ETA {round(seconds / 60)} min"
    return f"ETA {seconds / 3600:.1f} h"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundEvent:
    """One progress line of the round, with the fields every view reads typed."""
    phase: str                   # train, evaluate, must_pass, prepare, load, data, gate, save, done, error, schedule
    step: int | None = None
    total: int | None = None
    loss: float | None = None
    eta_s: float | None = None
    message: str = ""            # detail / message / reason, whichever the line carries
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RoundEvent:
        step, total = _number(obj.get("step")), _number(obj.get("total"))
        return cls(
            phase=str(obj.get("phase") or "training"),
            step=int(step) if step is not None else None,
            total=int(total) if total is not None else None,
            loss=_number(obj.get("loss")),
            eta_s=next((v for k in ("eta_s", "eta_seconds", "eta") if (v := _number(obj.get(k))) is not None), None),
            message=str(obj.get("detail") or obj.get("message") or obj.get("reason") or ""),
            raw=obj,
        )

    @property
    def percent(self) -> int | None:
        if self.step is not None and self.total:
            return max(0, min(100, int(100 * self.step / self.total)))
        value = _number(self.raw.get("percent"))
        return int(value) if value is not None else None

    @property
    def schedule_event(self) -> str | None:
        """For lines of the scheduled round's wrapper (phase "schedule"): decision, busy, started,
        finished or failed."""
        return str(self.raw.get("event")) if self.phase == "schedule" else None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundOutcome:
    exit_code: int               # -1: the process could not be started
    events: tuple[RoundEvent, ...]
    stderr_log: Path

    @property
    def cancelled(self) -> bool:
        return self.exit_code == EXIT_CANCELLED

    @property
    def failed_to_start(self) -> bool:
        return self.exit_code == -1

    def last(self, phase: str, schedule_event: str | None = None) -> RoundEvent | None:
        for event in reversed(self.events):
            if event.phase == phase and (schedule_event is None or event.schedule_event == schedule_event):
                return event
        return None

    @property
    def done(self) -> RoundEvent | None:
        """The round's result line (version, gate_passed, reason), if it got that far."""
        return self.last("done")

    @property
    def error(self) -> str | None:
        """The round's own words for why it did not finish (None: it said nothing)."""
        if (event := self.last("error")) is not None:
            return event.message
        if (event := self.last("schedule", "busy")) is not None:
            return event.message or "Another round is running."
        return None

    @property
    def started(self) -> bool:
        """The round got as far as deciding or taking the lock (so it recorded itself)."""
        return any(e.schedule_event in ("started", "decision", "busy") for e in self.events)


class RoundProcess(QObject):
    """A round subprocess with typed progress. One round at a time per object."""

    event = Signal(object)       # RoundEvent
    finished = Signal(object)    # RoundOutcome

    def __init__(self, logs_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.logs_dir = logs_dir
        self.process: QProcess | None = None
        self.stderr_log = logs_dir / "adapt-process.log"
        self._buffer = b""
        self._events: list[RoundEvent] = []

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    @property
    def pid(self) -> int | None:
        if not self.running or self.process is None:
            return None
        return int(self.process.processId()) or None

    def start(self, argv: list[str], *, data_root: Path) -> None:
        """Start `argv` with TUTORLOOP_HOME=`data_root`; nothing happens while a round runs."""
        if self.running:
            return
        if self.process is not None:
            self.process.deleteLater()   # the previous round's, finished
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("TUTORLOOP_HOME", str(data_root))
        env.insert("PYTHONUNBUFFERED", "1")  # progress lines as they happen, not at exit
        process.setProcessEnvironment(env)
        process.setProgram(argv[0])
        process.setArguments(argv[1:])
        process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_log = self.logs_dir / f"adapt-process-{datetime.now():%Y%m%d-%H%M%S}.log"
        process.setStandardErrorFile(str(self.stderr_log))
        process.readyReadStandardOutput.connect(self._on_stdout)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self.process = process
        self._buffer = b""
        self._events = []
        process.start()

    def cancel(self, grace_ms: int = CANCEL_GRACE_MS) -> None:
        """SIGTERM (the round records itself as cancelled); a kill if it is still there after `grace_ms`."""
        if not self.running or self.process is None:
            return
        process = self.process
        process.terminate()
        QTimer.singleShot(grace_ms, self, lambda: process.kill() if self.process is process and self.running
                          else None)

    def stop_and_wait(self, wait_ms: int) -> None:
        """The app is closing: terminate, wait up to `wait_ms`, then kill and wait again."""
        if self.process is None or not self.running:
            return
        self.process.terminate()
        if not self.process.waitForFinished(wait_ms):
            self.process.kill()
            self.process.waitForFinished(wait_ms)

    @Slot()
    def _on_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                obj = json.loads(raw.decode("utf-8", "replace"))
            except json.JSONDecodeError:
                continue   # a stray print; the log has everything
            if isinstance(obj, dict):
                event = RoundEvent.from_json(obj)
                self._events.append(event)
                self.event.emit(event)

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self.finished.emit(RoundOutcome(exit_code=exit_code, events=tuple(self._events), stderr_log=self.stderr_log))

    @Slot(QProcess.ProcessError)
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.finished.emit(RoundOutcome(exit_code=-1, events=(), stderr_log=self.stderr_log))
