"""`tutorloop class create|join|status|sync`: a class of desktops sharing one class folder.

The teacher creates the class (a teacher action: `--teacher NAME`, password from
$TUTORLOOP_PASSWORD or a prompt); each student desktop joins by pointing at the folder (a desktop
that already has a teacher profile joins only with a teacher's sign-in). `sync` sends this
desktop's exchanges and takes in the teacher's adapter (a student desktop), or imports every
desktop's exchanges into the review queue and publishes the active adapter (the teacher's).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.common import (
    EXIT_ERROR,
    UsageError,
    run_command,
    say,
    sign_in_teacher,
    teacher_options,
)
from learner.classroom import model_id_for
from learner.review_prompt import prompt_messages_for
from learner.settings import load_generation_settings
from storage import Database, StorageError, classfolder, users
from storage.classfolder import practice, training


def register(subparsers: argparse._SubParsersAction) -> None:
    teacher_opts = teacher_options()
    cl = subparsers.add_parser("class", help="a class of desktops: create, join, status, sync",
                               description="Share a class folder (network drive, Syncthing, OneDrive) between the "
                                           "teacher's desktop and the students' desktops.")
    sub = cl.add_subparsers(dest="class_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", parents=[teacher_opts], help="make a class in FOLDER (teacher)")
    create.add_argument("name", metavar="NAME", help="the class's name, e.g. 7B")
    create.add_argument("folder", metavar="FOLDER", help="the shared folder every desktop of the class can reach")
    create.add_argument("--model", metavar="SPEC",
                        help="the model the class's adapters are for (default: the one in this desktop's Settings)")
    create.set_defaults(func=run_command(_create))

    join = sub.add_parser("join", parents=[teacher_opts], help="join the class in FOLDER (a student desktop)")
    join.add_argument("folder", metavar="FOLDER")
    join.set_defaults(func=run_command(_join))

    st = sub.add_parser("status", help="this desktop's class; on the teacher's desktop, every desktop's last sync")
    st.add_argument("--json", action="store_true", help="print one JSON object")
    st.set_defaults(func=run_command(_status))

    sy = sub.add_parser("sync", help="send and receive now (the window does it every few minutes)")
    sy.add_argument("--json", action="store_true", help="print one JSON object")
    sy.set_defaults(func=run_command(_sync))

    lv = sub.add_parser("leave", parents=[teacher_opts],
                        help="stop syncing with the class (a teacher's sign-in where this desktop has a teacher)")
    lv.set_defaults(func=run_command(_leave))

    pe = sub.add_parser("publish-examples", parents=[teacher_opts],
                        help="put every approved example in the class folder, signed, for `adapt --class-folder` "
                             "on another machine (teacher)")
    pe.set_defaults(func=run_command(_publish_examples))

    sp = sub.add_parser("share-practice", parents=[teacher_opts],
                        help="on: student desktops also send their practice attempts from now on; off: they stop "
                             "(teacher, on the teacher's desktop)")
    sp.add_argument("state", choices=("on", "off"))
    sp.set_defaults(func=run_command(_share_practice))

    pr = sub.add_parser("practice", parents=[teacher_opts],
                        help="per student: the practice attempts shared with the class and the share correct (teacher)")
    pr.add_argument("--json", action="store_true", help="print one JSON object")
    pr.set_defaults(func=run_command(_practice))


def _create(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    spec = args.model or load_generation_settings(db)[0].model_spec
    made = classfolder.create_class(db, teacher, args.name, args.folder, model_id=model_id_for(spec))
    print(f"Class {made.name} created in {made.folder}")
    print(f"Model: {made.model_id}")
    print(f"Teacher key fingerprint: {made.fingerprint}")
    say("On each student desktop: tutorloop class join FOLDER, and check that it shows this fingerprint.")
    return 0


def _join(db: Database, args: argparse.Namespace) -> int:
    actor = sign_in_teacher(db, args) if users.list_users(db, role="teacher") else None
    joined = classfolder.join_class(db, actor, args.folder)
    print(f"Joined class {joined.name} ({joined.folder})")
    print(f"Teacher: {joined.teacher_name}")
    print(f"Teacher key fingerprint: {joined.fingerprint}")
    say("Compare the fingerprint with the one the teacher's desktop shows (tutorloop class status).")
    return 0


def _status(db: Database, args: argparse.Namespace) -> int:
    status = classfolder.status(db)
    if args.json:
        print(json.dumps(status.to_dict(), ensure_ascii=False, indent=2))
        return 0
    member = status.membership
    print(status.headline())
    print(f"Folder: {member.folder}  ({'teacher' if member.is_teacher else 'student'} desktop {member.device_name})")
    print(f"Teacher: {member.teacher_name}  key {member.fingerprint}")
    print(f"Practice attempts shared: {'on' if status.share_practice else 'off'}")
    print(f"Last sync: {member.last_sync_at or 'never'}" + (f"  ({member.last_sync_note})" if member.last_sync_note
                                                            else ""))
    if member.is_teacher:
        print(f"{'desktop':<24} {'last sync':<27} {'pending':>7}  adapter")
        for device in status.devices:
            pending = f"{device.pending_segments}" + (f" ({device.incomplete_segments} partial)"
                                                      if device.incomplete_segments else "")
            print(f"{(device.device_name or device.device_id[:8]):<24} {device.last_sync_at or 'never':<27} "
                  f"{pending:>7}  {'v' + str(device.adapter_version) if device.adapter_version else 'base'}")
    return 0


def _sync(db: Database, args: argparse.Namespace) -> int:
    report = classfolder.sync(db, prompt_for=prompt_messages_for)
    if args.json:
        print(json.dumps({"role": report.role, "summary": report.summary(), "notes": list(report.notes),
                          "adapter_changed": report.adapter_changed,
                          "version": (report.picked_up.version if report.picked_up else
                                      report.published.version if report.published else None)}))
    else:
        print(report.summary())
    for note in report.notes:
        say(note)
    return 0


def _leave(db: Database, args: argparse.Namespace) -> int:
    member = classfolder.require_membership(db)
    actor = sign_in_teacher(db, args) if member.is_teacher or users.list_users(db, role="teacher") else None
    left = classfolder.leave_class(db, actor)
    print(f"Left class {left.name}; this desktop keeps its adapters and no longer syncs with {left.folder}.")
    return 0


def _publish_examples(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    seq = training.publish_examples(db, teacher)
    print(f"Published the approved examples as set {seq}. On the training machine (joined to the class): "
          "tutorloop adapt --class-folder FOLDER")
    return 0


def _share_practice(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    settings = practice.set_share_practice(db, teacher, args.state == "on")
    if settings.share_practice:
        print("Practice attempts are shared: each student desktop sends the attempts made from now on at its next "
              "sync. See them with: tutorloop class practice")
    else:
        print("Practice attempts are no longer shared; student desktops stop sending them at their next sync.")
    return 0


def _practice(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    member = classfolder.require_membership(db)
    rows = practice.practice_overview(db, teacher)
    shared = practice.class_settings(member).share_practice
    if args.json:
        print(json.dumps({"class": member.name, "share_practice": shared, "students": [r.to_dict() for r in rows]}))
        return 0
    print(f"Class {member.name}: practice attempts shared {'on' if shared else 'off'}")
    if not rows:
        print("No practice attempts received yet." + ("" if shared else
              " Switch sharing on with: tutorloop class share-practice on"))
        return 0
    print(f"{'student':<24} {'desktop':<24} {'attempts':>8} {'correct':>8}  last")
    for row in rows:
        print(f"{row.student_name or 'student':<24} {row.device_name or '-':<24} {row.attempts:>8} "
              f"{row.share_correct:>8.0%}  {row.last_at}")
    return 0


def adapt_for_class(args: argparse.Namespace) -> int:
    """`tutorloop adapt --class-folder FOLDER`: take the teacher's signed examples, run one round
    (`python -m learner.adapt`, under torchrun/accelerate too: every rank takes the same examples,
    rank 0 sends the candidate), and write the candidate to the class folder for the teacher."""
    import os

    from learner.adapt.__main__ import run_from_args
    from storage import adapters, resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir).ensure()
    with Database(data_dir.db_path) as db:
        member = classfolder.require_membership(db)
        if Path(os.path.abspath(args.class_folder)) != member.folder:
            raise UsageError(f"this machine joined class {member.name} in {member.folder}, not {args.class_folder}; "
                             "join that folder first (tutorloop class join FOLDER).")
        taken = training.take_examples(db)
        before = adapters.latest_version(db)
    say(f"Class {member.name}: {taken.count} approved examples from set {taken.seq} ({taken.added} new, "
        f"{taken.removed} no longer approved).")
    code = run_from_args(args)
    if code != 0 or int(os.environ.get("RANK", "0")) != 0:
        return code
    with Database(data_dir.db_path) as db:
        version = adapters.latest_version(db)
        if version <= before:
            say("tutorloop: the round made no candidate; nothing was sent.")
            return EXIT_ERROR
        path = training.write_candidate(db, version, examples_seq=taken.seq)
    say(f"Candidate v{version} written to {path}. The teacher's desktop takes it in at its next sync; only a "
        "teacher can promote it.")
    return 0


def publish_to_class(db: Database) -> None:
    """After a promotion, rollback or "use the base model" on the teacher's desktop: tell the class
    now instead of at the next sync. Not in a class, or the folder unreachable: said, nothing else."""
    member = classfolder.membership(db)
    if member is None or not member.is_teacher:
        return
    try:
        report = classfolder.publish(db)
    except StorageError as exc:
        say(f"Not yet sent to class {member.name}: {exc} `tutorloop class sync` tries again.")
        return
    if report.published:
        what = f"v{report.version}" if report.version else "the base model"
        say(f"Class {member.name}: published {what}, signed; student desktops take it at their next sync.")
