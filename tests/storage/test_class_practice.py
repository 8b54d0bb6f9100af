"""Practice attempts through the class folder, with three real data folders (a teacher, two
students) and one class folder: shared only while the teacher's signed setting says so."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import PermissionDenied, ValidationError, auth, chat, classfolder, practice
from storage.classfolder import keys, segments
from storage.classfolder import practice as shared
from storage.classfolder.outbox import OUTBOX
from tests.support.class_folder import Desktop, make_class, student_desktop, teacher_desktop
from tests.support.classroom import FAST, PASSWORD


@pytest.fixture
def desks(tmp_path: Path):
    teacher = teacher_desktop(tmp_path / "teacher")
    ana = student_desktop(tmp_path / "ana", "Ana")
    ben = student_desktop(tmp_path / "ben", "Ben")
    folder = tmp_path / "share" / "class-7b"
    folder.parent.mkdir()
    make_class(teacher, folder, ana, ben)
    yield teacher, ana, ben
    for desk in (teacher, ana, ben):
        desk.close()


def attempt(desk: Desktop, answer: str, verdict: str, *, question: str = "What is 1/4 + 2/4?",
            session_id: int | None = None) -> practice.Attempt:
    item = practice.add_item(desk.db, desk.user.id, topic="Fractions", question=question, answer_key="3/4",
                             session_id=session_id)
    return practice.record_attempt(desk.db, item.id, desk.user.id, answer=answer, verdict=verdict, feedback="",
                                   p_known_before=0.3, p_known_after=0.5, card_json='{"due": "2027-01-01"}',
                                   due="2027-01-01")


def outbox_records(desk: Desktop) -> list[dict]:
    member = classfolder.require_membership(desk.db)
    found = []
    for _, path in segments.list_segments(member.folder / OUTBOX / member.device_id):
        found += list(segments.read(path).records)
    return found


def received(teacher: Desktop) -> list[dict]:
    return teacher.db.query("SELECT device_id, attempt_id, student_name, question, answer, verdict, topic "
                            "FROM class_practice ORDER BY student_name, attempt_id")


def test_off_by_default_nothing_is_shared(desks) -> None:
    teacher, ana, ben = desks
    attempt(ana, "3/4", "correct")
    assert shared.class_settings(classfolder.require_membership(ana.db)) == shared.ClassSettings()
    assert classfolder.sync(ana.db).sent.practice == 0
    assert not any(r["type"] == "practice" for r in outbox_records(ana))
    assert classfolder.sync(teacher.db, teacher.user).imported.practice == 0
    assert received(teacher) == [] and shared.practice_overview(teacher.db, teacher.user) == []
    assert classfolder.status(teacher.db).share_practice is False


def test_on_attempts_arrive_once_with_their_student_and_desktop(desks) -> None:
    teacher, ana, ben = desks
    earlier = attempt(ana, "2/4", "incorrect")
    ana.db.conn.execute("UPDATE practice_attempts SET created_at = '2026-01-01T08:00:00+00:00' WHERE id = ?",
                        (earlier.id,))                  # made before the teacher switched sharing on
    settings = shared.set_share_practice(teacher.db, teacher.user, True)
    assert settings.share_practice and settings.seq == 1
    assert classfolder.status(teacher.db).share_practice is True
    right = attempt(ana, "3/4", "correct")
    wrong = attempt(ana, "1/2", "incorrect", question="What is 1/4 + 1/4 + 1/4?")
    ben_try = attempt(ben, "3/4", "correct")
    private = chat.create_session(ben.db, ben.user.id, title="Mine", topic="Fractions")
    chat.update_session(ben.db, private.id, private=True)
    attempt(ben, "3/4", "correct", session_id=private.id)     # asked in a private session: never sent

    assert classfolder.sync(ana.db).sent.practice == 2
    assert classfolder.sync(ben.db).sent.practice == 1
    assert classfolder.sync(ana.db).sent.segment is None                  # nothing new: no new segment
    (record,) = [r for r in outbox_records(ben) if r["type"] == "practice"]
    assert (record["attempt_id"], record["answer"], record["verdict"], record["topic"]) == (
        ben_try.id, "3/4", "correct", "Fractions")
    assert record["student"]["name"] == "Ben" and record["created_at"] == ben_try.created_at

    report = classfolder.sync(teacher.db, teacher.user)
    assert report.imported.practice == 3 and "3 practice attempt(s)" in report.summary()
    ana_device = classfolder.require_membership(ana.db).device_id
    assert [(r["student_name"], r["attempt_id"], r["answer"], r["verdict"]) for r in received(teacher)] == [
        ("Ana", right.id, "3/4", "correct"), ("Ana", wrong.id, "1/2", "incorrect"), ("Ben", ben_try.id, "3/4", "correct")]
    assert {r["device_id"] for r in received(teacher) if r["student_name"] == "Ana"} == {ana_device}
    assert received(teacher)[1]["question"] == "What is 1/4 + 1/4 + 1/4?"

    # importing again (the segments forgotten as if read for the first time) changes nothing
    teacher.db.conn.execute("DELETE FROM class_segments")
    again = classfolder.import_outboxes(teacher.db, teacher.user)
    assert again.segments_read == 2 and again.practice == 0 and len(received(teacher)) == 3

    overview = {r.student_name: r for r in shared.practice_overview(teacher.db, teacher.user)}
    assert (overview["Ana"].attempts, overview["Ana"].correct, overview["Ana"].share_correct) == (2, 1, 0.5)
    assert (overview["Ben"].attempts, overview["Ben"].share_correct) == (1, 1.0)
    with pytest.raises(PermissionDenied):
        shared.practice_overview(teacher.db, None)

    shared.set_share_practice(teacher.db, teacher.user, False)
    attempt(ana, "3/4", "correct")
    assert classfolder.sync(ana.db).sent.practice == 0                     # off again: nothing more is sent


def test_a_student_cannot_switch_sharing_on(desks, tmp_path: Path) -> None:
    teacher, ana, ben = desks
    member = classfolder.require_membership(ana.db)
    with pytest.raises(PermissionDenied):
        shared.set_share_practice(ana.db, ana.user, True)
    # a teacher profile on a student desktop has no class key: refused too
    other = auth.create_teacher(ben.db, None, "Mr Park", PASSWORD, params=FAST)
    with pytest.raises(ValidationError, match="teacher's desktop"):
        shared.set_share_practice(ben.db, other, True)
    # a settings record written into the folder with another key, or a real one changed, is ignored
    forged_key = keys.make_key(tmp_path / "forged.pem")
    record = {"format": 1, "class_id": member.class_id, "seq": 1, "share_practice": True,
              "issued_at": "2026-01-01T00:00:00+00:00", "issued_by": "Ana"}
    (member.folder / shared.SETTINGS).mkdir(exist_ok=True)
    (member.folder / shared.SETTINGS / "00000001.json").write_text(json.dumps(keys.sign(forged_key, record)))
    shared.set_share_practice(teacher.db, teacher.user, False)        # already off: writes nothing
    real = keys.load_key(teacher.data_dir.root / "class" / f"{member.class_id}.pem")
    changed = keys.sign(real, {**record, "seq": 2})
    changed["issued_at"] = "2025-01-01T00:00:00+00:00"
    (member.folder / shared.SETTINGS / "00000002.json").write_text(json.dumps(changed))
    attempt(ana, "3/4", "correct")
    assert shared.class_settings(member).share_practice is False
    assert classfolder.sync(ana.db).sent.practice == 0 and received(teacher) == []
