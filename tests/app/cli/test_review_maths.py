"""`tutorloop review show` and `review list --json` say what the maths engine verified or changed
for a reply (messages.maths_json); real subprocesses, a real database file."""
from __future__ import annotations

import json

from learner.maths_record import to_json
from learner.types import MathsCheck
from storage import Database, chat
from tests.app.cli.test_review import tutorloop
from tests.support.classroom import Classroom

CHECKED = MathsCheck(computed=("1/2 + 1/4 = 3/4",), contradictions=("1/2 + 1/4 = 2/6",), regenerated=True)


def test_show_and_list_carry_the_maths_record(db: Database, classroom: Classroom) -> None:
    first, _, third = classroom.replies
    chat.finish_message(db, first.id, first.content, status="complete", maths_json=to_json(CHECKED))

    shown = tutorloop("review", "show", f"m{first.id}")
    assert shown.returncode == 0, shown.stderr
    assert "[maths] Maths engine: computed 1/2 + 1/4 = 3/4 (from the message)." in shown.stdout
    assert "[maths] The first reply stated 1/2 + 1/4 = 2/6, which is wrong — written again." in shown.stdout
    plain = tutorloop("review", "show", f"m{third.id}")
    assert plain.returncode == 0 and "[maths]" not in plain.stdout

    listed = {i["key"]: i for i in json.loads(tutorloop("review", "list", "--json").stdout)}
    assert listed[f"m{first.id}"]["maths"][0] == "Maths engine: computed 1/2 + 1/4 = 3/4 (from the message)."
    assert json.loads(listed[f"m{first.id}"]["maths_json"])["contradictions"] == ["1/2 + 1/4 = 2/6"]
    assert listed[f"m{third.id}"]["maths"] == [] and listed[f"m{third.id}"]["maths_json"] is None
