"""Exports (examples, audit log, a student's data) write whole files or nothing, never through a link,
never over a device, folder or the database, and say what went wrong in one clear error."""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from storage import Database, StorageError, ValidationError, audit, exchange, review, students
from storage.users import User
from tests.support.classroom import Classroom, fixed_prompt

Export = Callable[[Path | str], object]


@pytest.fixture(params=["examples", "audit", "student"])
def export(request, db: Database, classroom: Classroom) -> Export:
    review.approve(db, classroom.teacher, classroom.replies[0].id, prompt_for=fixed_prompt)
    teacher: User = classroom.teacher
    if request.param == "examples":
        return lambda path: exchange.export_examples(db, teacher, path)
    if request.param == "audit":
        return lambda path: audit.export_entries(db, teacher, path)
    return lambda path: students.export_student(db, teacher, classroom.student.id, path)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_planted_symlink_at_the_old_temporary_name_is_not_followed(export: Export, tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (share / "out.jsonl.partial").symlink_to(victim)
    export(share / "out.jsonl")
    assert victim.read_text() == "precious"
    assert (share / "out.jsonl").is_file() and not (share / "out.jsonl").is_symlink()


def test_a_symlink_as_the_target_is_refused(export: Export, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out.jsonl").symlink_to(victim)
    with pytest.raises(ValidationError, match="symbolic link"):
        export(tmp_path / "out.jsonl")
    assert victim.read_text() == "precious" and (tmp_path / "out.jsonl").is_symlink()


def test_a_device_or_pipe_is_never_replaced(export: Export, tmp_path: Path) -> None:
    pipe = tmp_path / "out.fifo"
    os.mkfifo(pipe)
    with pytest.raises(ValidationError, match="not a regular file"):
        export(pipe)
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    with pytest.raises(ValidationError, match="not a regular file"):
        export("/dev/full")                          # refused before anything is opened or renamed
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


@pytest.mark.parametrize("case", ["folder", "missing folder", "empty", "trailing slash", "database"])
def test_impossible_targets_give_one_clear_error_and_leave_nothing(export: Export, tmp_path: Path, db: Database,
                                                                   case: str) -> None:
    (tmp_path / "expdir").mkdir()
    target: str = {"folder": str(tmp_path / "expdir"), "missing folder": str(tmp_path / "nope" / "out.jsonl"),
                   "empty": "", "trailing slash": str(tmp_path / "expdir") + "/",
                   "database": str(db.path)}[case]
    before = listing(tmp_path)
    with pytest.raises(ValidationError) as refused:
        export(target)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 300
    assert listing(tmp_path) == before and listing(tmp_path / "expdir") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only folder")
def test_a_read_only_folder_is_reported(export: Export, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="may not write"):
            export(folder / "out.jsonl")
        assert listing(folder) == []
    finally:
        folder.chmod(0o700)


def test_a_failed_write_leaves_the_old_file_and_no_partial(db: Database, classroom: Classroom,
                                                           tmp_path: Path) -> None:
    from storage.safe_write import write_text_file

    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "out.jsonl"
    target.write_text("the previous export\n")

    def fails(out) -> None:
        out.write("half a line")
        raise OSError(28, "No space left on device")

    with pytest.raises(StorageError, match="disk .* is full"):
        write_text_file(target, fails)
    assert target.read_text() == "the previous export\n" and listing(tmp_path / "out") == ["out.jsonl"]


def test_student_exports_are_private_and_replace_an_old_file(db: Database, classroom: Classroom,
                                                             tmp_path: Path) -> None:
    target = tmp_path / "ana.json"
    target.write_text("old")
    students.export_student(db, classroom.teacher, classroom.student.id, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and '"profile"' in target.read_text()
