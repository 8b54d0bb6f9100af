"""`tutorloop class …` as real subprocesses: a teacher's data folder, a student's, one class folder."""
from __future__ import annotations

import json
from pathlib import Path

from storage import Database, DataDir, users
from tests.support.class_folder import (
    chat_reply,
    publish_fake_version,
    student_desktop,
    teacher_desktop,
)
from tests.support.classroom import PASSWORD
from tests.support.cli import tutorloop


def test_create_join_sync_and_status_from_the_command_line(tmp_path: Path) -> None:
    teacher = teacher_desktop(tmp_path / "teacher")
    ana = student_desktop(tmp_path / "ana", "Ana")
    chat_reply(ana, "What is 3 x 4?", "12.")
    folder = tmp_path / "share"
    folder.mkdir()
    teacher_home, ana_home = teacher.data_dir.root, ana.data_dir.root
    teacher.close()
    ana.close()

    denied = tutorloop("class", "create", "7B", str(folder / "7b"), "--model", "default", home=teacher_home,
                       TUTORLOOP_PASSWORD="wrong password")
    assert denied.returncode == 3 and not (folder / "7b").exists()
    made = tutorloop("class", "create", "7B", str(folder / "7b"), "--model", "default", home=teacher_home,
                     TUTORLOOP_PASSWORD=PASSWORD)
    assert made.returncode == 0, made.stderr
    fingerprint = next(line for line in made.stdout.splitlines() if "fingerprint" in line).split(": ")[1]

    joined = tutorloop("class", "join", str(folder / "7b"), home=ana_home)
    assert joined.returncode == 0, joined.stderr
    assert f"Teacher key fingerprint: {fingerprint}" in joined.stdout and "Ms Lee" in joined.stdout
    again = tutorloop("class", "join", str(tmp_path), home=ana_home)
    assert again.returncode == 1 and again.stderr.startswith("tutorloop: ") and "holds no class" in again.stderr

    sent = tutorloop("class", "sync", "--json", home=ana_home)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["role"] == "student"
    imported = tutorloop("class", "sync", home=teacher_home)
    assert imported.returncode == 0 and "imported 1 exchange" in imported.stdout, imported.stderr

    with Database(DataDir(teacher_home).db_path) as db:
        publish_fake_version(teacher_desktop_from(db, teacher.data_dir), 1, model_id="Qwen2.5-Coder-0.5B-Instruct "
                             "(embedded, Q4_K_M→bf16)")
    assert "published v1" in tutorloop("class", "sync", home=teacher_home).stdout
    picked = tutorloop("class", "sync", "--json", home=ana_home)
    assert json.loads(picked.stdout)["adapter_changed"] is True and json.loads(picked.stdout)["version"] == 1

    status = json.loads(tutorloop("class", "status", "--json", home=teacher_home).stdout)
    (device,) = status["devices"]
    assert device["adapter_version"] == 1 and device["pending_segments"] == 0 and device["last_sync_at"]
    assert status["fingerprint"] == fingerprint
    table = tutorloop("class", "status", home=teacher_home)
    assert table.returncode == 0 and "v1" in table.stdout
    assert "Class: 7B, tutor updated today" in tutorloop("class", "status", home=ana_home).stdout

    rolled = tutorloop("adapters", "rollback", home=teacher_home, TUTORLOOP_PASSWORD=PASSWORD)
    assert rolled.returncode == 0 and "Class 7B: published the base model, signed" in rolled.stderr
    back = json.loads(tutorloop("class", "sync", "--json", home=ana_home).stdout)
    assert back["adapter_changed"] is True and back["version"] is None

    left = tutorloop("class", "leave", home=ana_home)
    assert left.returncode == 0 and "Left class 7B" in left.stdout
    assert tutorloop("class", "sync", home=ana_home).returncode == 1
    assert tutorloop("class", "join", str(folder / "7b"), home=ana_home).returncode == 0
    assert "sent 0 exchange" in tutorloop("class", "sync", home=ana_home).stdout     # nothing sent twice
    denied = tutorloop("class", "leave", home=teacher_home, TUTORLOOP_PASSWORD="wrong password")
    assert denied.returncode == 3

    nowhere = tutorloop("class", "status", home=tmp_path / "fresh")
    assert nowhere.returncode == 1 and "tutorloop class join" in nowhere.stderr


def teacher_desktop_from(db: Database, data_dir: DataDir):
    from tests.support.class_folder import Desktop

    return Desktop(data_dir=data_dir, db=db, user=users.find_user(db, "Ms Lee"))


def test_two_desktops_syncing_at_the_same_moment_as_real_processes(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from storage import classfolder
    from tests.support.class_folder import make_class
    from tests.support.cli import ROOT

    teacher = teacher_desktop(tmp_path / "teacher")
    desks = [student_desktop(tmp_path / name.lower(), name) for name in ("Ana", "Ben")]
    (tmp_path / "share").mkdir()
    make_class(teacher, tmp_path / "share" / "7b", *desks)
    for desk in desks:
        for n in range(25):
            chat_reply(desk, f"{desk.user.name} question {n}?", "An answer.")
        desk.close()
    env = {k: v for k, v in os.environ.items() if k != "TUTORLOOP_PASSWORD"}
    procs = [subprocess.Popen([sys.executable, "-m", "app", "class", "sync", "--json"], cwd=ROOT,
                              env={**env, "TUTORLOOP_HOME": str(desk.data_dir.root)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for desk in desks for _ in range(2)]              # two processes per desktop, four at once
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    report = classfolder.import_outboxes(teacher.db, teacher.user)
    assert (report.imported, report.duplicates, report.waiting) == (50, 0, ())
    assert not list((tmp_path / "share").rglob(".tmp-*"))
    teacher.close()
