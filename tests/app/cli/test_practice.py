"""`tutorloop practice`: in-process with the scripted generator at the learner boundary (the model
itself is the one stand-in), and as a real subprocess for argument errors. Topics the maths engine
has a generator for load no model at all."""
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
from tests.support.practice import GOOD_ITEM, MODEL_TOPIC, WRONG_KEY_ITEM, ScriptedGenerator


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
    code = cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", MODEL_TOPIC, "--json",
                     "--student", "Ana", "--grade", "7", "--model", "/models/other"])
    out, err = capsys.readouterr()
    assert code == 0, err
    item = json.loads(out)
    assert (item["topic"], item["student"], item["grade"], item["answer_key"]) == (MODEL_TOPIC, "Ana", "7",
                                                                                   "3/4, because 1/4 + 2/4 = 3/4")
    assert (item["checked"], item["key_source"]) == (False, "model")    # a word problem nothing recomputed
    assert seen["settings"].model_spec == "/models/other"
    assert "Grade level: 7" in gen.prompts[0]
    with Database(data_dir.db_path) as db:
        ana = users.find_user(db, "Ana")
        [stored] = practice.list_items(db, ana.id)
        assert stored.id == item["id"] and stored.question == item["question"] and not stored.checked


def test_a_computed_topic_loads_no_model(data_dir, scripted, capsys):
    _gen, seen = scripted([])
    argv = ["--data-dir", str(data_dir.root), "practice", "--topic", "Fractions", "--json", "--student", "Ana",
            "--difficulty", "medium", "--seed", "7"]
    assert cli.main(argv) == 0
    item = json.loads(capsys.readouterr().out)
    assert seen == {}                               # make_generator was never called: no model loaded
    assert (item["checked"], item["key_source"], item["model_id"], item["difficulty"]) == (
        True, "generator", None, "medium")
    assert item["worked_steps"] and item["key_note"].startswith("Computed by the maths engine")
    assert cli.main(argv) == 0                     # the same student is not given the same question again
    assert json.loads(capsys.readouterr().out)["question"] != item["question"]
    assert cli.main([*argv, "--student", "Ben"]) == 0     # another student, the same seed: the same question
    assert json.loads(capsys.readouterr().out)["question"] == item["question"]


def test_a_wrong_model_key_is_replaced_and_said_so(data_dir, scripted, capsys):
    scripted([WRONG_KEY_ITEM])
    assert cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", MODEL_TOPIC, "--json",
                     "--student", "Ana"]) == 0
    item = json.loads(capsys.readouterr().out)
    assert (item["answer_key"], item["checked"], item["key_source"]) == ("5/6", True, "model_corrected")
    assert item["model_answer_key"].startswith("3/9") and "5/6" in item["key_note"]


def test_practice_text_output_uses_the_last_profile_and_labels_an_unchecked_key(data_dir, scripted, capsys):
    with Database(data_dir.db_path) as db:
        ben = users.create_user(db, "Ben", grade="5")
        users.create_user(db, "Cleo")
        users.touch_user(db, ben.id)
    scripted([GOOD_ITEM])
    assert cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", MODEL_TOPIC]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"Topic: {MODEL_TOPIC} (easy)") and "Answer key: 3/4" in out
    assert "(answer key not checked)" in out
    assert "for Ben" in err


def test_unparsable_model_output_fails_cleanly(data_dir, scripted, capsys):
    scripted(["I love fractions!"] * 2)
    code = cli.main(["--data-dir", str(data_dir.root), "practice", "--topic", MODEL_TOPIC, "--attempts", "2",
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
