"""`tutorloop practice --topic TEXT`: one practice item, stored and printed.

On a topic the maths engine has a generator for, the item is computed in code (no model is
loaded; --seed makes it reproducible); on any other topic the model writes it and the engine
checks its key where it can. The item goes to stdout (as text, or one JSON object with --json,
which says whether the key is `checked`); an unchecked key is labelled "answer key not checked".
Status goes to stderr. The item belongs to a student profile (--student, else the last one used),
whose mastery of the topic sets the difficulty unless --difficulty is given.
"""
from __future__ import annotations

import argparse
import json
import random
import threading

from app.cli.chat import add_model_options, load_tutor
from app.cli.common import ctrl_c_sets, run_guarded, say
from learner.settings import GenerationSettings, load_generation_settings
from storage import DataDir, Database, resolve_data_dir, users
from storage.users import User

TERMINAL_PROFILE = "Terminal"
UNCHECKED_LABEL = "answer key not checked"


def register(subparsers: argparse._SubParsersAction) -> None:
    practice = subparsers.add_parser(
        "practice", help="write one new practice question (with its answer key) and store it",
        description="One practice question with an answer key, topic and difficulty, stored for the student and "
                    "printed. Topics the maths engine knows (fractions, decimals, percentages, ratio, equations, "
                    "word problems, ...) are computed in code; others are written by the model, and their keys "
                    "are checked where the engine can recompute them.")
    practice.add_argument("--topic", required=True, help="the topic, e.g. Fractions")
    practice.add_argument("--grade", default=None, help="grade level (default: the student's profile)")
    practice.add_argument("--student", metavar="NAME",
                          help="the student profile it is for (created if new; default: the last profile used)")
    practice.add_argument("--difficulty", choices=("easy", "medium", "hard"),
                          help="default: from the student's mastery of the topic")
    practice.add_argument("--json", action="store_true", help="print the item as one JSON object")
    practice.add_argument("--attempts", type=int, default=3, metavar="N",
                          help="tries when the model's reply cannot be read (default 3)")
    practice.add_argument("--seed", type=int, default=None, metavar="N",
                          help="pick a computed question's numbers reproducibly (default: random)")
    add_model_options(practice)
    practice.set_defaults(func=run_practice)


def make_generator(settings: GenerationSettings, data_dir: DataDir, stop: threading.Event):
    """The real model behind learner.practice's TextGenerator interface (tests replace this)."""
    from learner.practice import ModelTextGenerator

    return ModelTextGenerator(load_tutor(settings, data_dir, stop), stop=stop)


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
    from learner.maths import plain_maths

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
            # a computed topic needs no model: nothing is loaded
            generate_text = None if practice.has_generator(topic) else make_generator(settings, data_dir, stop)
            say(f"{'Computing' if generate_text is None else 'Writing'} a practice question on {topic!r} "
                f"for {student.name}…")
            item = practice.new_item(db, generate_text, user_id=student.id, topic=topic, settings=settings,
                                     grade=grade, difficulty=args.difficulty, attempts=args.attempts,
                                     rng=random.Random(args.seed))
    finally:
        db.close()
    if args.json:
        print(json.dumps({
            "id": item.id, "student": student.name, "topic": item.topic, "difficulty": item.difficulty,
            "grade": item.grade, "question": item.question, "answer_key": item.answer_key,
            "checked": item.checked, "key_source": item.key_source, "key_note": item.key_note,
            "model_answer_key": item.model_answer_key, "require_simplest": item.require_simplest,
            "tolerance": item.tolerance, "worked_steps": list(item.worked_steps),
            "model_id": item.model_id, "adapter_version": item.adapter_version, "created_at": item.created_at,
        }, ensure_ascii=False), flush=True)
    else:
        label = "" if item.checked else f" ({UNCHECKED_LABEL})"
        print(f"Topic: {item.topic} ({item.difficulty})\n\n{plain_maths(item.question)}\n\n"
              f"Answer key: {plain_maths(item.answer_key)}{label}", flush=True)
        say(f"(Stored as practice item {item.id} for {student.name}. {item.key_note})".replace(" )", ")"))
    return 0
