"""The in-app scheduler: runs due adaptation rounds while the app is open, keeps chat usable while
one trains, and shows what it is doing in the status bar.

- A QTimer asks learner.schedule.decide() every minute; when a round is due it starts the same
  subprocess the OS schedulers run (`python -m learner.adapt --json --trigger schedule --if-due`),
  which takes the database lock and makes the same decision again under it, so the app, cron and a
  teacher's "Train now" never train twice at once.
- While a student's reply is being generated, the training process (ours, or any round holding the
  lock on this machine) is suspended with psutil and resumed after, so the reply gets the CPU.
  A process is never left suspended while it holds SQLite's write lock: that would block the chat's
  own writes, so we check and, if so, let it run a moment longer.
- Status: idle (and when next) / training 42% (ETA) / paused / waiting for approval / failed (with
  the log), as an `AdaptationStatus` for the status-bar widget.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import QEvent, QObject, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QHBoxLayout, QMessageBox, QProgressBar, QPushButton, QWidget

from app.ui.adaptation.schedule_dialog import open_schedule_dialog
from app.ui.context import AppContext, ChangeKind
from app.ui.features import WindowHost
from app.ui.round_process import EXIT_CANCELLED, RoundEvent, RoundOutcome, RoundProcess, describe_eta
from learner.schedule import Decision, decide, gather_inputs
from learner.settings import load_generation_settings
from storage import StorageError
from storage import schedule

if TYPE_CHECKING:
    from app.ui.worker import ModelHost

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 60_000
ACTIVITY_EVERY_S = 60          # how often generation marks the database "a student is active"
PAUSE_RETRY_MS = 50
PAUSE_RETRIES = 200           # keep trying for ten seconds while a reply is generated
TERMINATE_WAIT_MS = 10_000

State = Literal["idle", "training", "paused", "waiting", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptationStatus:
    state: State
    text: str                       # what the status bar shows
    detail: str = ""                # the why: decision reason, log path, what to do
    percent: int | None = None
    eta_s: float | None = None
    version: int | None = None
    log_path: str | None = None


def default_round_command(model_spec: str | None = None) -> list[str]:
    """The scheduled round, training on the model the chat uses (its adapters must fit that model)."""
    argv = [sys.executable, "-m", "learner.adapt", "--json", "--trigger", "schedule", "--if-due"]
    return argv + (["--model", model_spec] if model_spec else [])


class TrainingPause:
    """Suspends one process and its children, and resumes exactly what it suspended."""

    def __init__(self) -> None:
        self.suspended: list[Any] = []   # psutil.Process objects

    @property
    def active(self) -> bool:
        return bool(self.suspended)

    def suspend(self, pid: int) -> bool:
        import psutil

        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return False
        for proc in procs:
            try:
                proc.suspend()
                self.suspended.append(proc)
            except psutil.Error:
                pass
        if sys.platform == "win32":
            return self.active  # NtSuspendProcess has taken effect when it returns
        # SIGSTOP is delivered asynchronously; wait (briefly) until it took effect, so callers can
        # rely on "suspended" meaning it (and the write-lock check that follows is meaningful).
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and not self._all_stopped():
            time.sleep(0.002)
        return self.active

    def _all_stopped(self) -> bool:
        import psutil

        try:
            return all(p.status() == psutil.STATUS_STOPPED for p in self.suspended)
        except psutil.Error:
            return True
        except NotImplementedError:  # no status on this platform: trust suspend()
            return True

    def resume(self) -> None:
        import psutil

        for proc in reversed(self.suspended):
            try:
                proc.resume()
            except psutil.Error:
                pass
        self.suspended.clear()


class AdaptationScheduler(QObject):
    status_changed = Signal(object)      # AdaptationStatus
    approval_waiting = Signal(int)       # a candidate version that passed the gate waits for a teacher

    def __init__(self, ctx: AppContext, *, model_host: ModelHost | None = None,
                 interval_ms: int = CHECK_INTERVAL_MS, command: Callable[[], list[str]] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._command = command or (lambda: default_round_command(self._chat_model_spec()))
        self._clock = clock
        self.round = RoundProcess(ctx.data_dir.logs_dir, self)
        self.round.event.connect(self._on_event)
        self.round.finished.connect(self._on_finished)
        self.pause = TrainingPause()
        self._pause_wanted = False
        self._pause_tries = 0
        self._last_activity_mark = 0.0
        self.last_decision: Decision | None = None
        self.status = AdaptationStatus(state="idle", text="Adaptation: idle")
        self._host = model_host
        self._closed = False
        self.activity_watcher: QObject | None = None   # app-wide key/click filter, removed on shutdown
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._on_tick)
        if model_host is not None:
            self.attach_model_host(model_host)
        ctx.changes.changed.connect(self._on_changed)

    def _chat_model_spec(self) -> str:
        return load_generation_settings(self.ctx.db)[0].model_spec  # the defaults when unreadable

    # -- wiring ----------------------------------------------------------------------------------

    def attach_model_host(self, host: ModelHost) -> None:
        """Pause training while `host` generates a reply; resume when it has none."""
        self._host = host
        host.busy_changed.connect(self._on_model_busy)

    def start(self) -> None:
        """Begin checking; first resume a round a previous app left suspended, then check soon."""
        self._resume_abandoned()
        try:
            waiting = schedule.candidate_waiting(self.ctx.db)
        except StorageError:
            waiting = None
        if waiting is not None:
            self._show_waiting(waiting, None)
        self.timer.start()
        QTimer.singleShot(2_000, self, self._on_tick)
        self._refresh_idle_status()

    @Slot(object)
    def _on_changed(self, kind: ChangeKind) -> None:
        if kind is ChangeKind.ADAPTERS and self.status.state == "waiting":
            waiting = schedule.candidate_waiting(self.ctx.db)  # a teacher decided; another may still wait
            if waiting is not None:
                self._show_waiting(waiting, None)
            else:
                self.status = AdaptationStatus(state="idle", text="Adaptation: idle")
                self._refresh_idle_status()
        elif kind is ChangeKind.SCHEDULE and not self.running:
            self.check_now()

    # -- deciding --------------------------------------------------------------------------------

    @Slot()
    def _on_tick(self) -> None:
        try:
            self.check_now()
        except Exception:  # a timer must never raise into the event loop (e.g. a window half-built)
            log.exception("the scheduled check failed; the scheduler stops until the app restarts")
            self.timer.stop()
            self._closed = True

    def check_now(self) -> Decision | None:
        """Decide; start a round when due. Returns the decision (None while our round runs)."""
        if self.running or self._closed:
            return None
        now = self._clock()
        try:
            settings = schedule.get_settings(self.ctx.db)
            decision = decide(now, settings, gather_inputs(self.ctx.db, now=now))
        except StorageError as exc:  # a busy database: try again at the next tick
            log.warning("schedule check failed: %s", exc)
            return None
        self.last_decision = decision
        if decision.due:
            self.start_round()
        else:
            self._refresh_idle_status()
        return decision

    @property
    def running(self) -> bool:
        return self.round.running

    def start_round(self, command: list[str] | None = None) -> None:
        """Start the round subprocess (the scheduled command, or `command`)."""
        if self.running:
            return
        self._set_status(AdaptationStatus(state="training", text="Adaptation: starting…",
                                          detail=self.last_decision.reason if self.last_decision else ""))
        self.round.start(command or self._command(), data_root=self.ctx.data_dir.root)

    def cancel_round(self) -> None:
        if self.running:
            self.pause.resume()
            self.round.cancel()

    def shutdown(self) -> None:
        """App closing: never leave a process suspended; stop our round (recorded as cancelled)."""
        self._closed = True
        if self.activity_watcher is not None:
            QApplication.instance().removeEventFilter(self.activity_watcher)
            self.activity_watcher = None
        self.timer.stop()
        self._pause_wanted = False
        self.pause.resume()
        self.round.stop_and_wait(TERMINATE_WAIT_MS)

    # -- the round's output ----------------------------------------------------------------------

    @Slot(object)
    def _on_event(self, event: RoundEvent) -> None:
        if event.phase == "schedule":
            if event.schedule_event in ("decision", "busy") and not event.raw.get("due"):
                self._set_status(AdaptationStatus(state="idle", text="Adaptation: idle", detail=event.message))
            return
        percent = event.percent
        what = "training" if event.phase in ("train", "training") else event.phase
        text = f"Adaptation: {what}" + (f" {percent}%" if percent is not None else "")
        if event.eta_s is not None:
            text += f" ({describe_eta(event.eta_s)})"
        state: State = "paused" if self.pause.active else "training"
        if state == "paused":
            text += " — paused while a student chats"
        self._set_status(AdaptationStatus(state=state, text=text, percent=percent, eta_s=event.eta_s,
                                          detail=str(event.raw.get("message", ""))))

    @Slot(object)
    def _on_finished(self, outcome: RoundOutcome) -> None:
        self.pause.resume()
        if outcome.failed_to_start:
            self._set_status(AdaptationStatus(state="failed", text="Adaptation: failed to start",
                                              detail=f"Could not start {self._command()[0]}."))
            return
        finished = outcome.last("schedule", "finished")
        failed = outcome.last("schedule", "failed")
        if finished is not None and finished.raw.get("version") is not None:
            self.ctx.changes.notify(ChangeKind.ADAPTERS)  # a new candidate (or, auto-promoted, a new active one)
        if finished is not None:
            version = finished.raw.get("version")
            if finished.raw.get("gate_passed") and not finished.raw.get("promoted") and isinstance(version, int):
                self._show_waiting(version, finished.raw.get("log"))
            else:
                self._refresh_idle_status()
        elif failed is not None or outcome.exit_code not in (0, EXIT_CANCELLED):
            if not outcome.started:
                self._record_crash(outcome)
            self._show_failure(failed.raw if failed is not None else None, outcome.exit_code)
        else:
            self._refresh_idle_status()
        self.ctx.changes.notify(ChangeKind.SCHEDULE)

    def _show_waiting(self, version: int, log_path: str | None) -> None:
        self._set_status(AdaptationStatus(
            state="waiting", text=f"Adaptation: v{version} waiting for approval", version=version,
            detail=f"Candidate v{version} passed the gate. Compare and promote it in Teacher ▸ Adaptation.",
            log_path=log_path))
        self.approval_waiting.emit(version)

    def _record_crash(self, outcome: RoundOutcome) -> None:
        """The process died before it could record anything (broken install, import error): record
        the failure here, so the backoff applies instead of a retry every minute."""
        tail = ""
        try:
            tail = outcome.stderr_log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:][0]
        except (OSError, IndexError):
            pass
        now = self._clock()
        try:
            schedule.record_round_finished(self.ctx.db, trigger="schedule", started_at=now, finished_at=now,
                                        result="failed", message=tail or f"The round process exited with {outcome.exit_code}.",
                                        log_path=str(outcome.stderr_log))
        except StorageError:
            log.warning("could not record the failed round", exc_info=True)

    def _show_failure(self, event: dict[str, Any] | None, exit_code: int) -> None:
        state = schedule.get_state(self.ctx.db)
        log_path = (event or {}).get("log") or state.last_failure_log or state.last_round_log
        reason = (event or {}).get("reason") or state.last_failure_message or f"exit status {exit_code}"
        self._set_status(AdaptationStatus(
            state="failed", text="Adaptation: failed",
            detail=f"The last round failed: {reason}\nLog: {log_path}\nRounds retry later, waiting longer after "
                   "each failure.", log_path=log_path))

    # -- idle status -----------------------------------------------------------------------------

    def _refresh_idle_status(self) -> None:
        if self.running or self.status.state == "waiting":
            return
        state = schedule.get_state(self.ctx.db)
        decision = self.last_decision
        if state.last_round_result == "failed" and state.consecutive_failures:
            self._set_status(AdaptationStatus(
                state="failed", text="Adaptation: failed",
                detail=(f"{state.last_failure_message}\nLog: {state.last_failure_log}\n"
                        + (decision.reason if decision else "")), log_path=state.last_failure_log))
            return
        lock = schedule.current_round_lock(self.ctx.db)
        if lock is not None and schedule.lock_is_stale(lock, now=self._clock()) is None:
            # A round this app did not start (Train now in another window, cron, another computer).
            self._set_status(AdaptationStatus(state="training", text=f"Adaptation: {lock.trigger} round running",
                                              detail=lock.describe() + (f"\nLog: {lock.log_path}" if lock.log_path
                                                                        else ""), log_path=lock.log_path))
            return
        text = "Adaptation: idle"
        if decision is not None and decision.next_due is not None:
            text += f" · next {decision.next_due.astimezone():%a %H:%M}"
        self._set_status(AdaptationStatus(state="idle", text=text, detail=decision.reason if decision else ""))

    def _set_status(self, status: AdaptationStatus) -> None:
        self.status = status
        self.status_changed.emit(status)

    # -- pausing while a student chats -----------------------------------------------------------

    def _training_pid(self) -> int | None:
        """Our round's process, or any round holding the lock on this machine (Train now, cron)."""
        if self.round.pid is not None:
            return self.round.pid
        lock = schedule.current_round_lock(self.ctx.db)
        if lock is not None and lock.host == schedule.this_host() and lock.pid != os.getpid():
            return lock.pid
        return None

    @Slot(bool)
    def _on_model_busy(self, busy: bool) -> None:
        if busy:
            self._on_generation_started()
        else:
            self._on_generation_ended()

    def _on_generation_started(self) -> None:
        self._mark_activity()
        self._pause_wanted = True
        self._pause_tries = 0
        self._try_pause()

    def _try_pause(self) -> None:
        if not self._pause_wanted or self.pause.active:
            return
        pid = self._training_pid()
        if pid is None or not self.pause.suspend(pid):
            return
        if not schedule.write_lock_free(self.ctx.db, timeout_s=0.05):
            # Frozen mid-write it would block the chat's writes: let it finish that write first.
            self.pause.resume()
            self._pause_tries += 1
            if self._pause_tries < PAUSE_RETRIES:
                QTimer.singleShot(PAUSE_RETRY_MS, self, self._try_pause)
            return
        if self.status.state == "training":
            self._set_status(AdaptationStatus(state="paused", text=self.status.text + " — paused while a student chats",
                                              percent=self.status.percent, eta_s=self.status.eta_s,
                                              detail=self.status.detail))

    def _on_generation_ended(self) -> None:
        self._pause_wanted = False
        if self.pause.active:
            self.pause.resume()
            if self.status.state == "paused":
                self._set_status(AdaptationStatus(state="training",
                                                  text=self.status.text.replace(" — paused while a student chats", ""),
                                                  percent=self.status.percent, eta_s=self.status.eta_s,
                                                  detail=self.status.detail))

    def _mark_activity(self) -> None:
        """Tell --if-due (which may run from cron) that a student is here; at most once a minute."""
        if self._closed:
            return
        if time.monotonic() - self._last_activity_mark < ACTIVITY_EVERY_S:
            return
        self._last_activity_mark = time.monotonic()
        try:
            schedule.record_activity(self.ctx.db)
        except StorageError:
            log.warning("could not record activity", exc_info=True)

    def _resume_abandoned(self) -> None:
        """A previous app that crashed mid-reply may have left a round suspended: let it run."""
        import psutil

        lock = schedule.current_round_lock(self.ctx.db)
        if lock is None or lock.host != schedule.this_host():
            return
        try:
            proc = psutil.Process(lock.pid)
            if proc.status() == psutil.STATUS_STOPPED:
                for p in [proc, *proc.children(recursive=True)]:
                    p.resume()
        except psutil.Error:
            pass


class AdaptationStatusWidget(QWidget):
    """The status-bar indicator: a label button (click for details) and a slim progress bar."""

    def __init__(self, scheduler: AdaptationScheduler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scheduler = scheduler
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.button = QPushButton()
        self.button.setFlat(True)
        self.button.clicked.connect(self.show_details)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setMaximumWidth(90)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        layout.addWidget(self.button)
        layout.addWidget(self.bar)
        scheduler.status_changed.connect(self.show_status)
        self.show_status(scheduler.status)

    @Slot(object)
    def show_status(self, status: AdaptationStatus) -> None:
        self.button.setText(status.text)
        self.button.setToolTip(status.detail or status.text)
        self.bar.setVisible(status.state in ("training", "paused") and status.percent is not None)
        if status.percent is not None:
            self.bar.setValue(status.percent)
        colours = {"waiting": "color: #0b5394; font-weight: bold", "failed": "color: #b00020"}
        self.button.setStyleSheet(colours.get(status.state, ""))

    @Slot()
    def show_details(self) -> None:
        status = self.scheduler.status
        QMessageBox.information(self, "Adaptation", status.detail or status.text)


class _ActivityWatcher(QObject):
    """Keys and clicks anywhere in the app count as activity for "idle for M minutes" (marked at most
    once a minute, so the cost is one type check per event)."""

    _TYPES = (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel)

    def __init__(self, scheduler: AdaptationScheduler) -> None:
        super().__init__(scheduler)
        self._scheduler = scheduler

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() in self._TYPES:
            self._scheduler._mark_activity()
        return False


class AdaptationSchedule(QObject):
    """A window feature: the scheduler with its status-bar indicator, Teacher ▸ Adaptation schedule…,
    the approval badge and notification, and a clean stop when the window closes."""

    def __init__(self, host: WindowHost, *, start: bool = True) -> None:
        super().__init__(host.widget())
        self.host = host
        self.scheduler = AdaptationScheduler(host.ctx, model_host=host.model, parent=self)
        self.status_widget = AdaptationStatusWidget(self.scheduler)
        host.add_status_widget(self.status_widget)
        action = QAction("Adaptation &schedule…", self)
        action.triggered.connect(
            lambda: host.with_teacher(lambda: open_schedule_dialog(host.ctx, host.widget())))
        host.menu("teacher").addAction(action)
        self.scheduler.approval_waiting.connect(self._on_waiting)
        self.scheduler.status_changed.connect(self._on_status)
        app = QApplication.instance()
        if app is not None:
            self.scheduler.activity_watcher = _ActivityWatcher(self.scheduler)
            app.installEventFilter(self.scheduler.activity_watcher)  # removed by scheduler.shutdown()
        if start:
            self.scheduler.start()

    @Slot(int)
    def _on_waiting(self, version: int) -> None:
        message = f"A new adapter (v{version}) passed its checks and is waiting for a teacher's approval."
        self.host.set_menu_badge("teacher", True)
        self.host.show_message(message, timeout_ms=15_000)
        self.host.notify_desktop(message)

    @Slot(object)
    def _on_status(self, status: AdaptationStatus) -> None:
        if status.state != "waiting":
            self.host.set_menu_badge("teacher", False)

    def shutdown(self) -> None:
        self.scheduler.shutdown()
