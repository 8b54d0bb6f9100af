"""The model worker: one long-lived QObject on its own QThread that owns the model.

The UI never touches the model. `ModelHost` lives on the UI thread, owns the thread and the
worker, and sends requests to the worker by queued signals; the worker answers with signals that
Qt queues back to the UI thread. Stopping cannot be a queued call (the worker thread is busy
inside `generate` and would not run it), so every request carries its own `threading.Event`
that the UI sets directly; the learner checks it between tokens.
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

import app.ui.qt_compat  # noqa: F401  - before any Qt use; see the module
from storage import DataDir

from learner.settings import GenerationSettings
from learner.types import TutorJob, TutorReply, TutorRequest

if TYPE_CHECKING:  # the model code (torch, transformers) is imported on the worker thread, lazily
    from learner.tutor import Tutor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AdapterSwapped:
    version: int | None


@dataclass(frozen=True, slots=True)
class AdapterJob:
    """Hot-swap the tutor's adapter (None = the base model). Runs between replies on the model thread."""
    path: Path | None
    version: int | None

    def run_with_tutor(self, tutor: Tutor, settings: GenerationSettings, stop: threading.Event) -> AdapterSwapped:
        tutor.set_adapter(self.path, self.version)
        return AdapterSwapped(self.version)

@dataclass(frozen=True, slots=True)
class PrefillJob:
    """Prefill a reply's prompt up to where the student's message goes, while they type."""
    request: TutorRequest

    def run_with_tutor(self, tutor: Tutor, settings: GenerationSettings, stop: threading.Event) -> int:
        return tutor.prefill(self.request, settings, stop=stop)


# Model states, as ModelHost.state reports them.
IDLE, LOADING, READY, FAILED = "idle", "loading", "ready", "failed"
JOB_SETTINGS = GenerationSettings(temperature=0.0)   # jobs that need no sampling settings of their own


class ModelWorker(QObject):
    """Runs prepare_model → load_model → Tutor, then answers generation requests. Lives on the
    model thread; its slots are only ever invoked through queued signals."""

    progress = Signal(object)          # learner.sources.PrepareProgress
    engine_loaded = Signal(str, str)   # the engine's name ("llama.cpp"), a notice ("" for none); before ready
    ready = Signal(str)                # model_id of the model now answering
    load_failed = Signal(str)          # the learner's message, which says what to do
    load_cancelled = Signal()          # the user pressed Cancel while the model was being prepared
    token = Signal(int, str)           # request_id, a decoded piece of text
    stage = Signal(int, str)           # request_id, what the reply waits on before streaming (programs)
    finished = Signal(int, object)     # request_id, learner.tutor.TutorReply
    failed = Signal(int, str)          # request_id, message
    cancelled = Signal(int, object)    # request_id, TutorReply with the partial text (stopped=True)
    job_finished = Signal(int, object) # request_id, what a TutorJob returned

    def __init__(self, data_dir: DataDir) -> None:
        super().__init__()
        self._data_dir = data_dir
        self._tutor: Tutor | None = None

    @Slot(object, object)
    def load(self, settings: GenerationSettings, cancel: threading.Event) -> None:
        # Drop the old model first: holding two models at once can double the memory we need.
        if self._tutor is not None:
            self._tutor.engine.unload()
            self._tutor = None
        try:
            from learner.engine.select import load_engine
            from learner.errors import LearnerError, PreparationCancelled
            from learner.tutor import Tutor

            loaded = load_engine(settings, self._data_dir, on_progress=self.progress.emit, cancel=cancel)
            if cancel.is_set():
                loaded.engine.unload()
                raise PreparationCancelled("Cancelled before loading.")
            self._tutor = Tutor(loaded.engine, notice=loaded.notice)
        except PreparationCancelled:
            self.load_cancelled.emit()
        except LearnerError as exc:
            self.load_failed.emit(str(exc))
        except Exception as exc:  # a bug or an environment problem: say so, keep the app running
            log.exception("loading the model failed")
            self.load_failed.emit(f"The model could not be loaded ({type(exc).__name__}: {exc}). "
                                  "Check the model source in Settings, or see the log in the data folder.")
        else:
            self.engine_loaded.emit(self._tutor.engine_name, self._tutor.notice or "")
            self.ready.emit(self._tutor.model_id)

    @Slot(int, object, object, object)
    def generate(self, request_id: int, request: TutorRequest, settings: GenerationSettings,
                 stop: threading.Event) -> None:
        from learner.grounded import reply_grounded
        from learner.safeguarding import safe_reply

        def reply(tutor: Tutor) -> None:
            # The safeguarding screen goes first: a flagged message gets the help text, nothing generated
            # (TutorReply.safeguarding says why; the window records the alert).
            # Maths is computed and checked by the engine; a request with an AnswerGuard (practice, or
            # a computed result in Hint mode) is checked against its key: only checked sentences
            # stream, and a giveaway is regenerated once, then withheld.
            answer = safe_reply(tutor, request, settings, reply=reply_grounded, data_dir=self._data_dir,
                                on_text=lambda text: self.token.emit(request_id, text), stop=stop,
                                on_stage=lambda stage: self.stage.emit(request_id, stage))
            (self.cancelled if answer.stopped else self.finished).emit(request_id, answer)
            if not answer.stopped:
                self._record_figures(tutor, answer)

        self._answer(request_id, reply)

    def _record_figures(self, tutor: Tutor, answer: TutorReply) -> None:
        """Settings shows each model's speed and memory on this machine, measured from real replies."""
        from learner.engine.figures import record_reply

        try:
            record_reply(self._data_dir, model_id=answer.model_id, engine=tutor.engine_name,
                         n_tokens=answer.n_tokens, tokens_per_s=answer.tokens_per_s)
        except OSError as exc:   # a full or read-only data folder must not cost the reply
            log.warning("the measured figures were not saved: %s", exc)

    @Slot(int, object, object, object)
    def run_job(self, request_id: int, job: TutorJob, settings: GenerationSettings, stop: threading.Event) -> None:
        self._answer(request_id, lambda tutor: self.job_finished.emit(request_id, job.run_with_tutor(tutor, settings,
                                                                                                      stop)))

    def _answer(self, request_id: int, work: Callable[[Tutor], None]) -> None:
        """Run `work` with the tutor; any failure becomes the request's `failed` signal with a message."""
        if self._tutor is None:
            self.failed.emit(request_id, "The model is not loaded yet. Wait for it to load, or check Settings.")
            return
        from learner.errors import LearnerError

        try:
            work(self._tutor)
        except (LearnerError, ValueError) as exc:
            self.failed.emit(request_id, str(exc))
        except Exception as exc:
            log.exception("model work failed")
            self.failed.emit(request_id, f"The tutor could not answer ({type(exc).__name__}: {exc}).")


class ModelHost(QObject):
    """The UI thread's handle on the model worker: starts the thread, sends requests, stops them,
    tracks whether a model is loaded, and shuts everything down cleanly."""

    state_changed = Signal(str)        # IDLE | LOADING | READY | FAILED
    busy_changed = Signal(bool)        # a reply is being generated (True) / none is (False)
    adapter_changed = Signal(object)   # the adapter version now answering (None: the base model)
    adapter_failed = Signal(str)       # a swap failed; the previous adapter still answers

    # requests to the worker; connected across threads, so Qt queues them
    _load_requested = Signal(object, object)
    _generate_requested = Signal(int, object, object, object)
    _job_requested = Signal(int, object, object, object)

    def __init__(self, data_dir: DataDir, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("tutorloop-model")
        self.worker = ModelWorker(data_dir)
        self.worker.moveToThread(self.thread)
        self._load_requested.connect(self.worker.load)
        self._generate_requested.connect(self.worker.generate)
        self._job_requested.connect(self.worker.run_job)
        self.worker.engine_loaded.connect(self._on_engine_loaded)
        self.worker.ready.connect(self._on_ready)
        self.worker.load_failed.connect(self._on_load_failed)
        self.worker.load_cancelled.connect(self._on_load_cancelled)
        for done in (self.worker.finished, self.worker.failed, self.worker.cancelled, self.worker.job_finished):
            done.connect(self._on_request_done)
        self.worker.job_finished.connect(self._on_job_finished)
        self.worker.failed.connect(self._on_request_failed)
        self._swaps: dict[int, int | None] = {}   # adapter swaps queued, by request id → version
        self._ids = itertools.count(1)
        self._stops: dict[int, threading.Event] = {}   # requests not yet answered
        self._load_cancel: threading.Event | None = None
        self._loads_pending = 0
        self.state = IDLE
        self.model_id: str | None = None
        self.engine_name: str | None = None   # "llama.cpp" | "transformers", once loaded
        self.engine_notice: str | None = None  # why replies run on the slower engine, and the fix
        self.adapter_version: int | None = None
        self.last_error: str | None = None
        # Features may adjust a chat request before it is queued (practice marks one whose reply must
        # not give away an answer key); they run on this thread, in the order they were added.
        self._request_filters: list[Callable[[TutorRequest], TutorRequest]] = []
        self._shut_down = False

    def _ensure_started(self) -> None:
        # Started on first use, not in __init__: a window whose construction fails after creating
        # its host must not leave a running thread behind (Qt aborts when it is destroyed).
        if not self.thread.isRunning() and not self._shut_down:
            self.thread.start()

    # -- requests --------------------------------------------------------------------------------

    def load(self, settings: GenerationSettings) -> None:
        """Prepare and load the model `settings` names; a load already queued is cancelled."""
        if self._load_cancel is not None:
            self._load_cancel.set()
        self._load_cancel = threading.Event()
        self._loads_pending += 1
        self.model_id = None
        self._set_state(LOADING)
        self._ensure_started()
        self._load_requested.emit(settings, self._load_cancel)

    def cancel_load(self) -> None:
        if self._load_cancel is not None:
            self._load_cancel.set()

    def add_request_filter(self, request_filter: Callable[[TutorRequest], TutorRequest]) -> None:
        """Every chat request passes through `request_filter` before it is queued."""
        self._request_filters.append(request_filter)

    def filtered(self, request: TutorRequest) -> TutorRequest:
        """`request` as the filters leave it: what `generate` sends to the worker."""
        for request_filter in self._request_filters:
            request = request_filter(request)
        return request

    def generate(self, request: TutorRequest, settings: GenerationSettings) -> int:
        """Queue a chat reply; returns the request id that the worker's signals carry."""
        request_id = self._new_request()
        self._generate_requested.emit(request_id, self.filtered(request), settings, self._stops[request_id])
        return request_id

    def run_job(self, job: TutorJob, settings: GenerationSettings) -> int:
        """Queue a job for the model's thread; its result comes as `worker.job_finished`."""
        request_id = self._new_request()
        self._job_requested.emit(request_id, job, settings, self._stops[request_id])
        return request_id

    def prefill(self, request: TutorRequest, settings: GenerationSettings) -> int | None:
        """While the student types: prefill the prompt `request` (its text not needed) will have, so the
        reply starts sooner. Only when the model is loaded and idle; None when nothing was queued."""
        if self.state != READY or self.busy:
            return None
        return self.run_job(PrefillJob(self.filtered(request)), settings)

    def _new_request(self) -> int:
        request_id = next(self._ids)
        self._stops[request_id] = threading.Event()
        self._ensure_started()
        if len(self._stops) == 1:
            self.busy_changed.emit(True)
        return request_id

    def set_adapter(self, path: Path | None, version: int | None) -> None:
        """Swap the adapter on the loaded model (no reload) before the next reply; `adapter_version`
        follows once the worker has done it. Nothing is queued when that version is already there
        or on its way."""
        queued = list(self._swaps.values())
        if (queued[-1] if queued else self.adapter_version) == version:
            return
        self._swaps[self.run_job(AdapterJob(path, version), JOB_SETTINGS)] = version

    @property
    def adapter_pending(self) -> bool:
        return bool(self._swaps)

    def stop(self, request_id: int | None = None) -> None:
        """End generation (one request, or all) within a second. Safe while the worker is busy:
        it sets the request's Event from this thread instead of queueing a call."""
        for rid, event in list(self._stops.items()):
            if request_id is None or rid == request_id:
                event.set()

    def stop_event(self, request_id: int) -> threading.Event | None:
        """The Event that stops this request (None once it has been answered)."""
        return self._stops.get(request_id)

    @property
    def busy(self) -> bool:
        return bool(self._stops)

    def shutdown(self) -> None:
        """Stop whatever runs, let the thread finish, and wait for it. Results the worker emitted
        on its way out are still queued for the UI thread; the caller delivers them."""
        self._shut_down = True
        self.stop()
        self.cancel_load()
        if self.thread.isRunning():
            self.thread.quit()
            self.thread.wait()

    # -- worker answers --------------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)

    def _load_done(self) -> bool:
        """True when this answer belongs to the newest load (older ones were superseded)."""
        self._loads_pending -= 1
        return self._loads_pending == 0

    @Slot(str, str)
    def _on_engine_loaded(self, name: str, notice: str) -> None:
        if self._loads_pending == 1:   # the newest load; _on_ready follows
            self.engine_name, self.engine_notice = name, notice or None

    @Slot(str)
    def _on_ready(self, model_id: str) -> None:
        if self._load_done():
            self.model_id = model_id
            self.adapter_version = None   # a freshly loaded model has no adapter
            self.last_error = None
            self._set_state(READY)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        if self._load_done():
            self.last_error = message
            self._set_state(FAILED)

    @Slot()
    def _on_load_cancelled(self) -> None:
        if self._load_done():
            self.last_error = "Preparing the model was cancelled."
            self._set_state(IDLE)

    @Slot(int, object)
    def _on_job_finished(self, request_id: int, result: object) -> None:
        if request_id in self._swaps and isinstance(result, AdapterSwapped):
            del self._swaps[request_id]
            self.adapter_version = result.version
            self.adapter_changed.emit(result.version)

    @Slot(int, str)
    def _on_request_failed(self, request_id: int, message: str) -> None:
        if request_id in self._swaps:
            del self._swaps[request_id]
            self.adapter_failed.emit(message)

    @Slot(int, object)
    def _on_request_done(self, request_id: int, _result: object) -> None:
        if self._stops.pop(request_id, None) is not None and not self._stops:
            self.busy_changed.emit(False)
