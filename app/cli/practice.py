"""`tutorloop practice --topic TEXT`: the model writes one practice item, which is stored and printed.

The item goes to stdout (as text, or one JSON object with --json); status goes to stderr. The item
belongs to a student profile (--student, else the last one used), whose mastery of the topic sets
the difficulty unless --difficulty is given.
"""
from __future__ import annotations

import argparse
import json
import threading

from app.cli.chat import add_model_options, prepare_with_progress, quiet_transformers
from app.cli.common import ctrl_c_sets, run_guarded, say
from learner.errors import PreparationCancelled
from learner.settings import GenerationSettings, load_generation_settings
from storage import DataDir, Database, resolve_data_dir, users
from storage.users import User

TERMINAL_PROFILE = "Terminal"


def register(subparsers: argparse._SubParsersAction) -> None:
    practice = subparsers.add_parser(
        "practice", help="write one new practice question (with its answer key) and store it",
        description="The model writes one practice question with an answer key, topic and difficulty; it is "
                    "stored for the student and printed.")
    practice.add_argument("--topic", required=True, help="the topic, e.g. Fractions")
    practice.add_argument("--grade", default=None, help="grade level (default: the student's profile)")
    practice.add_argument("--student", metavar="NAME",
                          help="the student profile it is for (created if new; default: the last profile used)")
    practice.add_argument("--difficulty", choices=("easy", "medium", "hard"),
                          help="default: from the student's mastery of the topic")
    practice.add_argument("--json", action="store_true", help="print the item as one JSON object")
    practice.add_argument("--attempts", type=int, default=3, metavar="N",
                          help="tries when the model's reply cannot be read (default 3)")
    add_model_options(practice)
    practice.set_defaults(func=run_practice)


def make_generator(settings: GenerationSettings, data_dir: DataDir, stop: threading.Event):
    """The real model behind learner.practice's TextGenerator interface (tests replace this)."""
    from learner.loading import load_model
    from learner.practice import ModelTextGenerator

    quiet_transformers()
    prepared, _ = prepare_with_progress(settings.model_spec, data_dir, stop)
    if stop.is_set():
        raise PreparationCancelled("Cancelled before the model was loaded.")
    say(f"Loading {prepared.model_id}…")
    loaded = load_model(prepared, device=settings.device, dtype=settings.dtype)
    return ModelTextGenerator(loaded, stop=stop)


def _settings(db: Database, model: str | None) -> GenerationSettings:
    """The window's saved Settings (if any), with --model on top."""
    saved, problem = load_generation_settings(db)
    if problem:
        say(f"({problem})")
    return GenerationSettings(**{**saved.to_dict(), **({"model_spec": model} if model else {})})


def _student(db: Database, name: str | None, grade: str | None) -> User:

    if name:
        user = users.find_user(db, name)
        if user is None:
            user = users.create_user(db, name, grade=grade or "")
            say(f"(Created the student profile {user.name!r}.)")
        if user.is_teacher:
            raise ValueError(f"{user.name} is a teacher profile; practice items are for students (--student NAME).")
        return user
    last = users.last_seen_user(db)
    if last is not None and not last.is_teacher:
        return last
    students = users.list_users(db, role="student")
    if len(students) == 1:
        return students[0]
    if students:
        raise ValueError("Several student profiles exist; say which one with --student NAME.")
    user = users.find_user(db, TERMINAL_PROFILE) or users.create_user(db, TERMINAL_PROFILE, grade=grade or "")
    say(f"(No student profile yet: using {user.name!r}. Choose another with --student NAME.)")
    return user


@run_guarded
def run_practice(args: argparse.Namespace) -> int:
    from learner import practice

    topic = (args.topic or "").strip()
    if not topic:
        raise ValueError("The topic is empty: say what to practise, e.g. --topic Fractions.")
    if args.attempts < 1 or args.attempts > 10:
        raise ValueError("--attempts must be from 1 to 10.")
    data_dir = resolve_data_dir(args.data_dir).ensure()
    db = Database(data_dir.db_path)
    try:

        student = _student(db, args.student, args.grade)
        grade = args.grade if args.grade is not None else student.grade
        settings = _settings(db, args.model)
        stop = threading.Event()
        with ctrl_c_sets(stop):
            generate_text = make_generator(settings, data_dir, stop)
            say(f"Writing a practice question on {topic!r} for {student.name}…")
            item = practice.new_item(db, generate_text, user_id=student.id, topic=topic, settings=settings,
                                     grade=grade, difficulty=args.difficulty, attempts=args.attempts)
    finally:
        db.close()
    if args.json:
        print(json.dumps({
            "id": item.id, "student": student.name, "topic": item.topic, "difficulty": item.difficulty,
            "grade": item.grade, "question": item.question, "answer_key": item.answer_key,
            "model_id": item.model_id, "adapter_version": item.adapter_version, "created_at": item.created_at,
        }, ensure_ascii=False), flush=True)
    else:
        print(f"Topic: {item.topic} ({item.difficulty})\n\n{item.question}\n\nAnswer key: {item.answer_key}", flush=True)
        say(f"(Stored as practice item {item.id} for {student.name}.)")
    return 0
