"""`tutorloop safeguarding list|ack`: the messages the safeguarding screen flagged, for teachers.

Teacher actions: `--teacher NAME` (optional when there is only one) and the password from
$TUTORLOOP_PASSWORD or a prompt; storage checks the role again (a student is refused, exit 3).
Results go to stdout, counts to stderr.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from app.cli.common import run_command, say, sign_in_teacher, teacher_options
from storage import Database, safeguarding


def register(subparsers: argparse._SubParsersAction) -> None:
    teacher_opts = teacher_options()
    sg = subparsers.add_parser("safeguarding", help="messages flagged as a possible risk to a student (teachers only)",
                               description="Student messages the safeguarding screen flagged (self-harm, abuse, "
                                           "bullying, danger). The student was shown the school's help text.")
    sg_sub = sg.add_subparsers(dest="safeguarding_command", metavar="ACTION", required=True)
    ls = sg_sub.add_parser("list", parents=[teacher_opts], help="list alerts, those not yet acknowledged first")
    ls.add_argument("--new", action="store_true", help="only alerts not yet acknowledged")
    ls.add_argument("--json", action="store_true", help="print JSON (one array) instead of a table")
    ls.set_defaults(func=run_command(_list))
    ack = sg_sub.add_parser("ack", parents=[teacher_opts], help="acknowledge an alert (you have dealt with it)")
    ack.add_argument("id", metavar="ID", type=int)
    ack.add_argument("--note", default="", help="what was done, kept with the alert (at most 2000 characters)")
    ack.set_defaults(func=run_command(_ack))


def _who(alert: safeguarding.Alert) -> str:
    return alert.student_name or ("(tutorloop ask)" if alert.source == "cli" else "(deleted profile)")


def _list(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    alerts = safeguarding.list_alerts(db, teacher, include_acknowledged=not args.new)
    if args.json:
        print(json.dumps([{**asdict(a), "acknowledged": a.acknowledged} for a in alerts], ensure_ascii=False, indent=2))
    else:
        print(f"{'ID':<5} {'WHEN (UTC)':<19} {'STUDENT':<16} {'CATEGORY':<22} {'STATUS':<22} MESSAGE")
        for a in alerts:
            status = f"ack: {a.acknowledged_by_name or '?'}" if a.acknowledged else "NEW"
            text = " ".join(a.text.split())
            print(f"{a.id:<5} {a.created_at.replace('T', ' ')[:19]:<19} {_who(a)[:16]:<16} "
                  f"{safeguarding.CATEGORY_LABELS.get(a.category, a.category)[:22]:<22} {status[:22]:<22} {text}")
    waiting = sum(not a.acknowledged for a in alerts)
    say(f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}, {waiting} not yet acknowledged"
        + (" (tutorloop safeguarding ack ID when dealt with)." if waiting else "."))
    return 0


def _ack(db: Database, args: argparse.Namespace) -> int:
    teacher = sign_in_teacher(db, args)
    alert = safeguarding.acknowledge(db, teacher, args.id, note=args.note)
    say(f"Alert {alert.id} acknowledged by {alert.acknowledged_by_name}.")
    return 0
