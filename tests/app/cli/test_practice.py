"""`tutorloop practice`: in-process with the scripted generator at the learner boundary (the model
itself is the one stand-in), and as a real subprocess for argument errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.cli import main as cli
from app.cli import practice as cli_practice
from storage import Database, users
from storage import practice
from tests.support.practice import GOOD_ITEM, ScriptedGenerator


@pytest.fixture
def scripted(monkeypatch):
    def install(replies):
        gen = ScriptedGenerator(replies)
        seen = {}

        def make_generator(settings, data_dir, stop):
            seen["settings"] = settings
            return gen
        monkeypatch.setattr(cli_practice, "make_generator", make_generator)
        return gen, seen
    return install


def test_practice_json_prints_and_stores_one_item(data_dir, scripted, capsys):
    gen, seen = scripted([GOOD_ITEM])
    code = cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", "Fractions", "--json",
                     "--student", "Ana", "--grade", "7", "--model", "/models/other"])
    out, err = capsys.readouterr()
    assert code == 0, err
    item = json.loads(out)
    assert (item["topic"], item["student"], item["grade"], item["answer_key"]) == ("Fractions", "Ana", "7",
                                                                                   "3/4, because 1/4 + 2/4 = 3/4")
    assert seen["settings"].model_spec == "/models/other"
    assert "Grade level: 7" in gen.prompts[0]
    with Database(data_dir.db_path) as db:
        ana = users.find_user(db, "Ana")
        [stored] = practice.list_items(db, ana.id)
        assert stored.id == item["id"] and stored.question == item["question"]


def test_practice_text_output_uses_the_last_profile(data_dir, scripted, capsys):
    with Database(data_dir.db_path) as db:
        ben = users.create_user(db, "Ben", grade="5")
        users.create_user(db, "Cleo")
        users.touch_user(db, ben.id)
    scripted([GOOD_ITEM])
    assert cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", "Fractions"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Topic: Fractions (easy)") and "Answer key: 3/4" in out
    assert "for Ben" in err


def test_unparsable_model_output_fails_cleanly(data_dir, scripted, capsys):
    scripted(["I love fractions!"] * 2)
    code = cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", "Fractions", "--attempts", "2",
                     "--student", "Ana"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "error: The model did not write a usable practice question in 2 tries" in err
    assert "Traceback" not in err
    with Database(data_dir.db_path) as db:
        assert db.query("SELECT count(*) AS n FROM practice_items")[0]["n"] == 0


def test_teacher_profile_refused(data_dir, scripted, capsys):
    with Database(data_dir.db_path) as db:
        users.create_user(db, "Ms Reed", role="teacher", password_hash="x")
    scripted([])
    assert cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", "X", "--student", "ms reed"]) == 2
    assert "teacher profile" in capsys.readouterr().err


@pytest.mark.parametrize("args,says", [
    (["practice", "--topic", "  "], "The topic is empty"),
    (["practice"], "the following arguments are required: --topic"),
])
def test_bad_arguments_in_a_real_subprocess(data_dir, args, says):
    env = {**os.environ, "TUTORLOOP_HOME": str(data_dir.root)}
    done = subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert says in done.stderr and done.stdout == ""
