"""`tutorloop review …`, `tutorloop teacher add`, `tutorloop student …`, `tutorloop audit export`:
the teacher side from a terminal, for scripting.

Every command here is a teacher action and asks for a teacher's credentials: `--teacher NAME`
(optional when there is exactly one teacher) and the password from $TUTORLOOP_PASSWORD or a
prompt. The storage functions check the role again themselves. The one exception is creating the
very first teacher, which needs no credentials while no teacher exists.

Results go to stdout (so they can be piped); messages and counts go to stderr.
Exit status: 0 done, 1 refused or failed (the message says why), 2 usage, 3 sign-in failed.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from app.cli.common import (EXIT_ERROR, PASSWORD_ENV, UsageError, read_password, run_command, say, sign_in_teacher,
                            teacher_options)
from learner.maths_record import teacher_lines
from learner.prompts import system_prompt
from learner.review_prompt import prompt_messages_for
from storage import Database, auth, chat, exchange, review, students, users
from storage import audit

NEW_PASSWORD_ENV = "TUTORLOOP_NEW_PASSWORD"


def register(subparsers: argparse._SubParsersAction) -> None:
    teacher_opts = teacher_options()

    rv = subparsers.add_parser("review", help="the teacher review queue: list, approve, reject, undo, import, export",
                               description="Review what the tutor said before the model may learn from it.")
    rv_sub = rv.add_subparsers(dest="review_command", metavar="ACTION", required=True)

    ls = rv_sub.add_parser("list", parents=[teacher_opts], help="list items (default: pending, 👎-rated first)")
    ls.add_argument("--status", choices=("pending", "approved", "rejected"), default="pending")
    ls.add_argument("--student", metavar="NAME", help="only this student's chats")
    ls.add_argument("--topic", help="only this topic")
    ls.add_argument("--mode", choices=chat.MODES, help="only this tutoring mode")
    ls.add_argument("--rating", choices=("down", "up", "unrated"), help="only 👎, 👍 or unrated replies")
    ls.add_argument("--since", metavar="DATE", help="on or after this date (YYYY-MM-DD)")
    ls.add_argument("--until", metavar="DATE", help="on or before this date (YYYY-MM-DD)")
    ls.add_argument("--limit", type=int, metavar="N")
    ls.add_argument("--json", action="store_true", help="print JSON (one array) instead of a table")
    ls.set_defaults(func=run_command(_list))

    show = rv_sub.add_parser("show", parents=[teacher_opts], help="show one item with the conversation before it")
    show.add_argument("id", metavar="ID", help="m12 (a chat reply) or i3 (an imported exchange)")
    show.set_defaults(func=run_command(_show))

    ap = rv_sub.add_parser("approve", parents=[teacher_opts],
                           help="approve items as they are (several IDs: all or none, undone as one)")
    ap.add_argument("ids", nargs="+", metavar="ID")
    ap.add_argument("--edit", metavar="TEXT", help="approve one item with this rewritten reply instead")
    ap.set_defaults(func=run_command(_approve))

    rj = rv_sub.add_parser("reject", parents=[teacher_opts], help="reject one item, with a reason")
    rj.add_argument("id", metavar="ID")
    rj.add_argument("--reason", required=True, help="what was wrong (kept with the decision)")
    rj.set_defaults(func=run_command(_reject))

    undo = rv_sub.add_parser("undo", parents=[teacher_opts], help="undo your last decision (a bulk approval at once)")
    undo.set_defaults(func=run_command(_undo))

    ex = rv_sub.add_parser("export", parents=[teacher_opts], help="write approved examples to a JSONL file")
    ex.add_argument("file", metavar="FILE")
    ex.add_argument("--format", choices=exchange.EXPORT_FORMATS, default="messages")
    ex.set_defaults(func=run_command(_export))

    im = rv_sub.add_parser("import", parents=[teacher_opts],
                           help="import JSONL (messages or prompt/completion) or MathDial transcripts")
    im.add_argument("file", metavar="FILE")
    im.add_argument("--format", choices=exchange.IMPORT_FORMATS, default="messages")
    im.add_argument("--as", dest="as_status", choices=("pending", "approved"), default="pending",
                    help="pending (default): into the review queue; approved: straight into training data")
    im.add_argument("--partial", action="store_true",
                    help="import the good lines even if some are malformed (default: all or nothing)")
    im.set_defaults(func=run_command(_import))

    th = subparsers.add_parser("teacher", help="teacher accounts")
    th_sub = th.add_subparsers(dest="teacher_command", metavar="ACTION", required=True)
    add = th_sub.add_parser("add", parents=[teacher_opts],
                            help="add a teacher (the first one needs no credentials)",
                            description=f"Add a teacher. The new password comes from ${NEW_PASSWORD_ENV} or a "
                                        f"prompt (for the very first teacher, ${PASSWORD_ENV} works too).")
    add.add_argument("name", metavar="NAME")
    add.set_defaults(func=run_command(_teacher_add))
    idle = th_sub.add_parser("idle-timeout", parents=[teacher_opts],
                             help="minutes without teacher activity before the window signs a teacher out",
                             description="Without MINUTES: print the setting. With MINUTES (1-480): change it "
                                         "(a teacher action, audited). The default is 15.")
    idle.add_argument("minutes", type=int, nargs="?", metavar="MINUTES")
    idle.set_defaults(func=run_command(_teacher_idle_timeout))

    st = subparsers.add_parser("student", help="data rights: export or delete everything about one student")
    st_sub = st.add_subparsers(dest="student_command", metavar="ACTION", required=True)
    sx = st_sub.add_parser("export", parents=[teacher_opts], help="write everything about a student to a JSON file")
    sx.add_argument("name", metavar="NAME")
    sx.add_argument("file", metavar="FILE")
    sx.set_defaults(func=run_command(_student_export))
    sd = st_sub.add_parser("delete", parents=[teacher_opts],
                           help="delete a student and everything derived from them (audited)")
    sd.add_argument("name", metavar="NAME")
    sd.add_argument("--confirm", metavar="NAME", help="repeat the name to confirm (otherwise you are asked)")
    sd.set_defaults(func=run_command(_student_delete))

    au = subparsers.add_parser("audit", help="the audit log of teacher actions")
    au_sub = au.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ae = au_sub.add_parser("export", parents=[teacher_opts], help="write the audit log as CSV or JSON")
    ae.add_argument("file", metavar="FILE")
    ae.add_argument("--format", choices=("csv", "json"), default="csv")
    ae.set_defaults(func=run_command(_audit_export))


def _item_dict(item: review.ReviewItem) -> dict:
    """The item's fields, plus `maths`: what the maths engine verified or changed, in words
    (empty when nothing was recorded; `maths_json` is the record itself)."""
    return {**asdict(item), "maths": list(teacher_lines(item.maths_json))}


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# -- review --------------------------------------------------------------------------------------

def _list(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    student_id = None
    if args.student:
        student = users.find_user(db, args.student)
        if student is None:
            raise UsageError(f"no student named {args.student!r}.")
        student_id = student.id
    items = review.list_queue(db, teacher, review.QueueFilter(
        status=args.status, student_id=student_id, topic=args.topic, mode=args.mode, rating=args.rating,
        since=args.since, until=args.until, limit=args.limit))
    counts = review.counts(db, teacher)
    if args.json:
        print(json.dumps([_item_dict(i) for i in items], ensure_ascii=False, indent=2))
    else:
        rating = {-1: "👎", 1: "👍", None: ""}
        print(f"{'ID':<7} {'DATE':<10} {'STUDENT':<12} {'TOPIC':<14} {'MODE':<8} {'':<2} EXCHANGE")
        for i in items:
            print(f"{i.key:<7} {i.created_at[:10]:<10} {_short(i.student_name or '(import)', 12):<12} "
                  f"{_short(i.topic, 14):<14} {i.mode or '':<8} {rating.get(i.rating, ''):<2} "
                  f"{_short(i.student_message, 40)} → {_short(i.approved_completion or i.reply, 50)}")
    say(f"{len(items)} {args.status}. Queue: {counts.pending} pending, {counts.approved_since_adapter} approved since "
         f"the last adapter ({counts.approved_total} in all), {counts.rejected} rejected.")
    return 0


def _show(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    detail = review.get_detail(db, teacher, args.id)
    item = detail.item
    print(f"{item.key} · {item.status} · {item.student_name or item.session_title} · {item.topic or '-'} · "
          f"{item.mode or '-'} · grade {item.grade or '-'} · {item.created_at}")
    for turn in detail.context:
        print(f"\n[{turn.role}] {turn.content}")
    print(f"\n[student] {item.student_message}\n\n[tutor] {item.reply}")
    if maths := teacher_lines(item.maths_json):   # what the maths engine verified or changed
        print("\n" + "\n".join(f"[maths] {line}" for line in maths))
    if item.suggestion:
        print(f"\n[student's suggested better answer] {item.suggestion}")
    if item.decision:
        print(f"\n{item.decision} by {item.decided_by} at {item.decided_at}" + (f": {item.reason}" if item.reason else ""))
    return 0


def _approve(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    if args.edit is not None:
        if len(args.ids) != 1:
            raise UsageError("--edit approves one item; give exactly one ID.")
        decisions = [review.edit_and_approve(db, teacher, args.ids[0], args.edit, prompt_for=prompt_messages_for)]
    elif len(args.ids) == 1:
        decisions = [review.approve(db, teacher, args.ids[0], prompt_for=prompt_messages_for)]
    else:
        decisions = review.approve_many(db, teacher, args.ids, prompt_for=prompt_messages_for)
    for d in decisions:
        print(f"{d.key}\t{d.decision}\texample {d.example_id}")
    say(f"Approved {len(decisions)}. `tutorloop review undo` takes {'them' if len(decisions) > 1 else 'it'} back.")
    return 0


def _reject(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    d = review.reject(db, teacher, args.id, args.reason)
    print(f"{d.key}\trejected\t{d.reason}")
    return 0


def _undo(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    result = review.undo_last(db, teacher)
    print("\n".join(result.keys))
    what = {"rejected": "rejection", "edited": "edited approval"}.get(result.decision, "approval")
    if len(result.keys) == 1:
        say(f"Undid the {what} of {result.keys[0]}; it is pending again.")
    else:
        say(f"Undid the {what} of {len(result.keys)} items; they are pending again.")
    return 0


def _export(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    count = exchange.export_examples(db, teacher, Path(args.file), fmt=args.format)
    say(f"Wrote {count} approved example{'s' if count != 1 else ''} to {args.file} ({args.format}).")
    return 0


def _system_for(mode: str, grade: str, topic: str) -> str:
    # Imported transcripts keep their own turns; only the tutor's system prompt is added, so the
    # model learns them under the same identity it answers students with.
    return system_prompt(grade=grade, topic=topic)


def _import(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    try:
        report = exchange.import_file(db, teacher, Path(args.file), fmt=args.format, as_status=args.as_status,
                                      partial=args.partial, system_for=_system_for)
    except exchange.ImportRejected as exc:
        say(f"tutorloop: {exc}")
        return EXIT_ERROR
    for problem in report.problems:
        say(f"skipped {problem}")
    print("\n".join(report.keys))
    say(f"Imported {report.imported} as {report.status}"
         + (f"; {report.duplicates} already present (skipped)" if report.duplicates else "")
         + (f"; {len(report.problems)} bad line(s) skipped" if report.problems else "") + ".")
    return 0


# -- teachers, students, audit -------------------------------------------------------------------

def _teacher_add(db: Database, args: argparse.Namespace) -> int:
    actor = None if not auth.teacher_exists(db) else sign_in_teacher(db, args)
    if actor is None:
        password = read_password(f"Password for the new teacher {args.name}: ", (NEW_PASSWORD_ENV, PASSWORD_ENV))
        if not os.environ.get(NEW_PASSWORD_ENV) and not os.environ.get(PASSWORD_ENV):
            if getpass.getpass("Type it again: ") != password:
                raise UsageError("the two passwords differ; nothing was created.")
    else:
        password = read_password(f"Password for the new teacher {args.name}: ", NEW_PASSWORD_ENV)
        if not os.environ.get(NEW_PASSWORD_ENV) and getpass.getpass("Type it again: ") != password:
            raise UsageError("the two passwords differ; nothing was created.")
    teacher = auth.create_teacher(db, actor, args.name, password)
    say(f"Teacher {teacher.name} added.")
    return 0


def _teacher_idle_timeout(db: Database, args: argparse.Namespace) -> int:
    if args.minutes is None:
        print(auth.idle_sign_out_minutes(db))
        return 0
    minutes = auth.set_idle_sign_out_minutes(db, sign_in_teacher(db, args), args.minutes)
    say(f"A teacher signed in at the window is now signed out after {minutes} minutes without activity.")
    return 0


def _find_student(db: Database, name: str) -> users.User:
    student = users.find_user(db, name)
    if student is None or student.role != "student":
        raise UsageError(f"no student named {name!r}.")
    return student


def _student_export(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    student = _find_student(db, args.name)
    path = students.export_student(db, teacher, student.id, Path(args.file))
    say(f"Wrote everything about {student.name} to {path}.")
    return 0


def _student_delete(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    student = _find_student(db, args.name)
    confirm = args.confirm
    if confirm is None:
        if not sys.stdin.isatty():
            raise UsageError("deleting a student needs --confirm NAME when not run in a terminal.")
        confirm = input(f"This deletes {student.name} and all their chats and examples. Type the name to confirm: ")
    removed = students.delete_student(db, teacher, student.id, confirm_name=confirm)
    say(f"Deleted {student.name}: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in removed.items()) + ".")
    return 0


def _audit_export(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    count = audit.export_entries(db, teacher, Path(args.file), fmt=args.format)
    say(f"Wrote {count} audit entries to {args.file}.")
    return 0
