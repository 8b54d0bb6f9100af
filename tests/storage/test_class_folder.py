"""The class folder with three real data folders (a teacher, two students) and one class folder."""
from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from storage import (
    PermissionDenied,
    ValidationError,
    adapters,
    auth,
    chat,
    classfolder,
    review,
)
from storage.classfolder import segments
from storage.classfolder.adapters import MANIFEST
from tests.support.class_folder import (
    MODEL,
    Desktop,
    chat_reply,
    make_class,
    publish_fake_version,
    student_desktop,
    teacher_desktop,
)
from tests.support.classroom import FAST, PASSWORD


@pytest.fixture
def desks(tmp_path: Path):
    teacher = teacher_desktop(tmp_path / "teacher")
    ana = student_desktop(tmp_path / "ana", "Ana")
    ben = student_desktop(tmp_path / "ben", "Ben")
    yield teacher, ana, ben
    for desk in (teacher, ana, ben):
        desk.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "share" / "class-7b"


def pending(teacher: Desktop) -> list[review.ReviewItem]:
    return review.list_queue(teacher.db, teacher.user, review.QueueFilter(status="pending"))


def test_create_writes_a_signed_class_file_and_keeps_the_key_owner_only(desks, folder: Path) -> None:
    teacher, ana, ben = desks
    folder.parent.mkdir()
    made = make_class(teacher, folder, ana)
    info = classfolder.read_class_file(folder)
    assert (info.name, info.model_id, info.teacher_name) == ("7B", MODEL, "Ms Lee")
    key = teacher.data_dir.root / "class" / f"{made.class_id}.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not any(p.suffix == ".pem" for p in folder.rglob("*"))           # the private key never leaves
    joined = classfolder.membership(ana.db)
    assert joined.role == "student" and joined.fingerprint == made.fingerprint == info.fingerprint
    assert len(joined.fingerprint.split()) == 8

    with pytest.raises(ValidationError, match="already in class 7B"):
        classfolder.create_class(teacher.db, teacher.user, "7C", folder.parent / "other", model_id=MODEL)
    other_teacher = auth.create_teacher(ben.db, None, "Mr Park", PASSWORD, params=FAST)
    with pytest.raises(ValidationError, match="already holds a class"):
        classfolder.create_class(ben.db, other_teacher, "7C", folder, model_id=MODEL)
    with pytest.raises(PermissionDenied):
        classfolder.create_class(ana.db, ana.user, "7C", folder.parent / "other", model_id=MODEL)


def test_join_refuses_a_folder_without_a_class_or_with_a_forged_class_file(desks, folder: Path,
                                                                             tmp_path: Path) -> None:
    teacher, ana, ben = desks
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="holds no class"):
        classfolder.join_class(ana.db, None, tmp_path / "empty")
    folder.parent.mkdir()
    make_class(teacher, folder)
    data = json.loads((folder / "class.json").read_text())
    data["name"] = "7B (renamed)"
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "class.json").write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="signature"):
        classfolder.join_class(ben.db, None, forged)
    assert classfolder.membership(ben.db) is None


def test_a_desktop_with_a_teacher_profile_joins_only_by_a_teacher(desks, folder: Path) -> None:
    teacher, ana, _ = desks
    folder.parent.mkdir()
    make_class(teacher, folder)
    local_teacher = auth.create_teacher(ana.db, None, "Mr Park", PASSWORD, params=FAST)
    with pytest.raises(PermissionDenied):
        classfolder.join_class(ana.db, ana.user, folder)
    assert classfolder.join_class(ana.db, local_teacher, folder).role == "student"


def test_round_trip_exchange_to_queue_to_approval_to_student_adapter(desks, folder: Path) -> None:
    teacher, ana, ben = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana, ben)
    reply = chat_reply(ana, "What is 1/2 + 1/4?", "3/4.")
    chat.set_feedback(ana.db, reply.id, rating=-1, suggestion="Show the quarters first.")
    chat_reply(ben, "What is 2/3 of 9?", "6.")

    sent = classfolder.sync(ana.db)
    assert sent.sent.exchanges == 1 and sent.sent.segment == 1
    classfolder.sync(ben.db)
    report = classfolder.sync(teacher.db, teacher.user)
    assert report.imported.imported == 2 and report.imported.segments_read == 2
    queue = pending(teacher)
    assert sorted(i.student_message for i in queue) == ["What is 1/2 + 1/4?", "What is 2/3 of 9?"]
    ana_item = next(i for i in queue if i.reply == "3/4.")
    assert "Ana" in ana_item.session_title and "class 7B" in ana_item.session_title      # who and where
    assert (ana_item.student_name, ana_item.rating, ana_item.suggestion) == ("Ana", -1, "Show the quarters first.")
    assert queue[0].key == ana_item.key                                       # "Not helpful" first, as on one desktop
    down = review.list_queue(teacher.db, teacher.user, review.QueueFilter(rating="down"))
    assert [i.key for i in down] == [ana_item.key]
    assert review.editor_prefill(teacher.db, teacher.user, ana_item.key) == "Show the quarters first."

    review.approve(teacher.db, teacher.user, ana_item.key)
    (example,) = review.list_examples(teacher.db)
    assert example.prompt[-1]["content"] == "What is 1/2 + 1/4?" and example.completion == "3/4."

    publish_fake_version(teacher, 1)
    published = classfolder.sync(teacher.db, teacher.user).published
    assert published.published and published.version == 1
    assert (folder / "adapters" / "v1" / "adapter.gguf").is_file()           # every file of the version folder
    picked = classfolder.sync(ana.db).picked_up
    assert picked.changed and picked.version == 1 and picked.refused is None
    local = adapters.active_adapter(ana.db)
    assert local.version == 1 and adapters.adapter_problem(local) is None
    assert (ana.data_dir.adapters_dir / "v1" / "adapter.gguf").read_bytes().startswith(b"GGUF")
    assert not classfolder.sync(ana.db).picked_up.changed                    # nothing new: no swap

    status = classfolder.status(teacher.db)
    by_name = {d.device_id: d for d in status.devices}
    ana_id = classfolder.membership(ana.db).device_id
    assert by_name[ana_id].adapter_version == 1 and by_name[ana_id].pending_segments == 0
    assert by_name[ana_id].last_sync_at is not None
    assert classfolder.status(ana.db).headline() == "Class: 7B, tutor updated today"
    # A window whose model answers without the adapter (say, another model is loaded) reports that.
    classfolder.sync(ana.db, in_use=classfolder.InUse(None))
    assert {d.device_id: d for d in classfolder.status(teacher.db).devices}[ana_id].adapter_version is None


def _ana_following_v1(desks: tuple[Desktop, Desktop, Desktop], folder: Path) -> tuple[Desktop, Desktop]:
    """The teacher's class with Ana in it, v1 published and picked up on Ana's desktop."""
    teacher, ana, _ = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana)
    publish_fake_version(teacher, 1, seed=1)
    classfolder.sync(teacher.db, teacher.user)
    classfolder.sync(ana.db)
    return teacher, ana


def test_rollback_publishes_a_signed_active_record_and_students_follow(desks, folder: Path) -> None:
    teacher, ana = _ana_following_v1(desks, folder)
    publish_fake_version(teacher, 2, seed=2)
    classfolder.sync(teacher.db, teacher.user)
    assert classfolder.sync(ana.db).picked_up.version == 2
    adapters.rollback(teacher.db, teacher.user)
    assert classfolder.sync(teacher.db, teacher.user).published.version == 1
    picked = classfolder.sync(ana.db).picked_up
    assert picked.changed and adapters.active_adapter(ana.db).version == 1
    adapters.use_base(teacher.db, teacher.user)
    classfolder.sync(teacher.db, teacher.user)
    assert classfolder.sync(ana.db).picked_up.changed and adapters.active_adapter(ana.db) is None
    assert sorted(p.name for p in (folder / "active").iterdir()) == [f"{n:08d}.json" for n in (1, 2, 3, 4)]


def test_the_class_folder_keeps_the_newest_published_versions_and_a_rollback_brings_one_back(desks,
                                                                                            folder: Path) -> None:
    from storage.classfolder.adapters import KEEP_PUBLISHED

    teacher, ana, _ = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana)
    for version in range(1, KEEP_PUBLISHED + 3):
        publish_fake_version(teacher, version, seed=version)
        classfolder.sync(teacher.db, teacher.user)
    newest = KEEP_PUBLISHED + 2
    assert sorted(p.name for p in (folder / "adapters").iterdir()) == [f"v{v}" for v in range(3, newest + 1)]
    adapters.rollback(teacher.db, teacher.user, 1)             # pruned from the folder: published again
    assert classfolder.sync(teacher.db, teacher.user).published.version == 1
    assert (folder / "adapters" / "v1" / MANIFEST).is_file()
    assert classfolder.sync(ana.db).picked_up.version == 1


def test_import_is_idempotent(desks, folder: Path) -> None:
    teacher, ana, _ = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana)
    for n in range(3):
        chat_reply(ana, f"Question {n}?", f"Answer {n}.")
    classfolder.sync(ana.db)
    assert classfolder.import_outboxes(teacher.db, teacher.user).imported == 3
    again = classfolder.import_outboxes(teacher.db, teacher.user)
    assert (again.imported, again.segments_read) == (0, 0)
    # Reading every segment again (as after a lost record of what was read) changes nothing either.
    with teacher.db.transaction():
        teacher.db.conn.execute("DELETE FROM class_segments")
    again = classfolder.import_outboxes(teacher.db, teacher.user)
    assert (again.imported, again.duplicates) == (0, 3)
    # A desktop that crashed after writing a segment but before recording it sends the same replies again.
    with ana.db.transaction():
        ana.db.conn.execute("DELETE FROM class_sent")
    assert classfolder.send(ana.db).segment == 2
    resent = classfolder.import_outboxes(teacher.db, teacher.user)
    assert (resent.imported, resent.duplicates) == (0, 3)
    assert len(pending(teacher)) == 3


def test_retraction_takes_exchanges_out_of_the_queue_and_out_of_training(desks, folder: Path) -> None:
    teacher, ana, ben = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana, ben)
    kept = chat_reply(ana, "Kept?", "Yes.")
    private = chat_reply(ana, "Private later?", "Yes.")
    approved_then_private = chat_reply(ana, "Approved, then private?", "Yes.")
    chat_reply(ben, "Ben's question?", "Ben's answer.")
    for desk in (ana, ben):
        classfolder.sync(desk.db)
    classfolder.sync(teacher.db, teacher.user)
    by_question = {i.student_message: i for i in pending(teacher)}
    review.approve(teacher.db, teacher.user, by_question["Approved, then private?"].key)
    review.approve(teacher.db, teacher.user, by_question["Ben's question?"].key)
    assert len(review.list_examples(teacher.db)) == 2

    private_session = chat.create_session(ana.db, ana.user.id, title="Moved")   # one session per privacy choice
    with ana.db.transaction():
        ana.db.conn.execute("UPDATE messages SET session_id = ? WHERE id IN (?, ?, ?, ?)",
                            (private_session.id, private.id - 1, private.id, approved_then_private.id - 1,
                             approved_then_private.id))
    _mark_private(ana, private.id)
    assert classfolder.sync(ana.db).sent.retractions == 2
    report = classfolder.sync(teacher.db, teacher.user).imported
    assert report.retracted == 2
    assert [i.student_message for i in pending(teacher)] == ["Kept?"]
    assert [e.completion for e in review.list_examples(teacher.db)] == ["Ben's answer."]
    assert len(review.list_examples(teacher.db, status="retracted")) == 1    # kept for provenance, never trained

    # Made public again: the exchanges come back for review (the earlier approval stays retracted).
    chat.update_session(ana.db, private_session.id, private=False)
    assert classfolder.sync(ana.db).sent.exchanges == 2
    assert classfolder.sync(teacher.db, teacher.user).imported.imported == 2
    assert sorted(i.student_message for i in pending(teacher)) == ["Approved, then private?", "Kept?",
                                                                    "Private later?"]
    assert [e.completion for e in review.list_examples(teacher.db)] == ["Ben's answer."]
    _mark_private(ana, private.id)
    assert classfolder.sync(ana.db).sent.retractions == 2
    classfolder.sync(teacher.db, teacher.user)
    assert [i.student_message for i in pending(teacher)] == ["Kept?"]

    # Deleting the student (on the student's desktop) retracts the rest; on the teacher's side the text goes.
    session_id = _session_of(ana, kept.id)
    with ana.db.transaction():
        ana.db.conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
    assert classfolder.sync(ana.db).sent.retractions == 1
    classfolder.sync(teacher.db, teacher.user)
    assert pending(teacher) == []
    assert not teacher.db.query("SELECT 1 FROM imported_exchanges WHERE completion = 'Yes.'")


def _session_of(desk: Desktop, message_id: int) -> int:
    return desk.db.query("SELECT session_id FROM messages WHERE id = ?", (message_id,))[0]["session_id"]


def _mark_private(desk: Desktop, message_id: int) -> None:
    chat.update_session(desk.db, _session_of(desk, message_id), private=True)


@pytest.fixture
def published(desks, folder: Path):
    teacher, ana, ben = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana, ben)
    publish_fake_version(teacher, 1, seed=1)
    classfolder.sync(teacher.db, teacher.user)
    assert classfolder.sync(ana.db).picked_up.version == 1
    publish_fake_version(teacher, 2, seed=2)
    classfolder.sync(teacher.db, teacher.user)
    return teacher, ana, ben


def _refused(desk: Desktop, match: str) -> None:
    picked = classfolder.sync(desk.db).picked_up
    assert not picked.changed and picked.refused is not None and match in picked.refused, picked
    assert adapters.active_adapter(desk.db).version == 1                   # the current adapter stays


def test_a_tampered_file_is_refused(published, folder: Path) -> None:
    _, ana, _ = published
    weights = folder / "adapters" / "v2" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    _refused(ana, "does not match the teacher's signed manifest")
    assert not (ana.data_dir.adapters_dir / "v2").exists()


def test_a_tampered_signature_or_manifest_is_refused(published, folder: Path) -> None:
    _, ana, _ = published
    path = folder / "adapters" / "v2" / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["gate_passed"] = True
    manifest["gate_reason"] = "edited by hand"
    path.write_text(json.dumps(manifest))
    _refused(ana, "does not carry the class teacher's signature")


def test_an_active_record_signed_by_another_key_is_ignored(published, folder: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from storage.classfolder import keys

    _, _, ben = published
    member = classfolder.membership(ben.db)
    forged = keys.sign(Ed25519PrivateKey.generate(), {"class_id": member.class_id, "seq": 99, "version": 2,
                                                       "issued_at": "2026-12-01T00:00:00+00:00"})
    (folder / "active" / "00000099.json").write_text(json.dumps(forged))
    assert classfolder.sync(ben.db).picked_up.version == 2      # the newest validly signed record (seq 2) wins


def test_a_version_for_another_model_is_refused(desks, folder: Path) -> None:
    teacher, ana = _ana_following_v1(desks, folder)
    publish_fake_version(teacher, 2, model_id="another-model", seed=2)
    classfolder.sync(teacher.db, teacher.user)
    _refused(ana, "was trained on another-model")


def test_a_half_copied_version_folder_waits_and_is_taken_once_whole(published, folder: Path) -> None:
    _, ana, _ = published
    weights = folder / "adapters" / "v2" / "adapter_model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    _refused(ana, "only partly in the class folder")
    gguf = folder / "adapters" / "v2" / "adapter.gguf"
    gguf_bytes = gguf.read_bytes()
    gguf.unlink()
    weights.write_bytes(whole)
    _refused(ana, "only partly in the class folder")
    gguf.write_bytes(gguf_bytes)
    picked = classfolder.sync(ana.db).picked_up
    assert picked.changed and adapters.active_adapter(ana.db).version == 2


def test_two_desktops_writing_at_the_same_moment(tmp_path: Path, folder: Path) -> None:
    teacher = teacher_desktop(tmp_path / "teacher")
    folder.parent.mkdir()
    make_class(teacher, folder)
    roots = [tmp_path / "ana", tmp_path / "ben"]
    for root, name in zip(roots, ("Ana", "Ben")):
        desk = student_desktop(root, name)
        classfolder.join_class(desk.db, None, folder)
        desk.close()
    start = threading.Barrier(len(roots) * 2)
    errors: list[BaseException] = []

    def desktop_process(root: Path, name: str) -> None:
        # Each thread opens its own connection, as the window and a `class sync` of one desktop would.
        from storage import Database, users

        db = Database(root / "tutorloop.db")
        try:
            desk = Desktop(data_dir=None, db=db, user=users.find_user(db, name))  # type: ignore[arg-type]
            start.wait()
            for n in range(10):
                chat_reply(desk, f"{name} {threading.get_ident()} question {n}?", "An answer.")
                classfolder.send(db)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=desktop_process, args=(root, name))
               for root, name in zip(roots, ("Ana", "Ben")) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = classfolder.import_outboxes(teacher.db, teacher.user)
    assert report.imported == 40 and report.duplicates == 0 and not report.waiting
    assert not list(folder.rglob(".tmp-*"))
    teacher.close()


def test_a_segment_cut_short_by_a_crash_is_ignored_until_complete(desks, folder: Path) -> None:
    teacher, ana, _ = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana)
    chat_reply(ana, "First?", "One.")
    classfolder.send(ana.db)
    chat_reply(ana, "Second?", "Two.")
    classfolder.send(ana.db)
    outbox = folder / "outbox" / classfolder.membership(ana.db).device_id
    (numbers, paths) = zip(*segments.list_segments(outbox), strict=True)
    assert numbers == (1, 2)
    first_path = paths[0]
    whole = first_path.read_bytes()
    first_path.write_bytes(whole[:-30])                                       # the end line cut off
    (outbox / ".tmp-abc-00000003.jsonl").write_bytes(b'{"type": "segment"')   # a crash mid-write
    report = classfolder.import_outboxes(teacher.db, teacher.user)
    assert report.imported == 0 and report.waiting and "segment 1" in report.waiting[0]
    status = classfolder.status(teacher.db)
    assert [(d.pending_segments, d.incomplete_segments) for d in status.devices] == [(2, 1)]
    first_path.write_bytes(whole[:-1] + b"x\n")                               # whole length, wrong checksum
    assert classfolder.import_outboxes(teacher.db, teacher.user).imported == 0
    first_path.write_bytes(whole)                                             # the sync tool finished
    report = classfolder.import_outboxes(teacher.db, teacher.user)
    assert report.imported == 2 and not report.waiting                       # nothing lost, in order
    assert sorted(i.student_message for i in pending(teacher)) == ["First?", "Second?"]


def test_status_and_sync_without_a_class_say_what_to_do(desks) -> None:
    _, ana, _ = desks
    with pytest.raises(classfolder.NotInClass, match="tutorloop class join"):
        classfolder.sync(ana.db)


def test_feedback_given_after_sending_reaches_the_teacher(desks, folder: Path) -> None:
    teacher, ana, _ = desks
    folder.parent.mkdir()
    make_class(teacher, folder, ana)
    reply = chat_reply(ana, "Q?", "A.")
    classfolder.sync(ana.db)
    classfolder.sync(teacher.db, teacher.user)
    with ana.db.transaction():     # a later second, as a student rating a minute later
        ana.db.conn.execute("UPDATE class_sent SET sent_at = '2000-01-01T00:00:00+00:00'")
    chat.set_feedback(ana.db, reply.id, rating=1)
    assert classfolder.sync(ana.db).sent.feedback == 1
    assert classfolder.sync(teacher.db, teacher.user).imported.feedback == 1
    assert teacher.db.query("SELECT rating FROM class_exchanges")[0]["rating"] == 1
