from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import Database, PermissionDenied, ValidationError, audit, chat, exchange, review
from storage.exchange import ImportRejected, ImportTooLarge
from tests.support.classroom import Classroom, fixed_prompt


def table_counts(db: Database) -> dict[str, int]:
    return {t: db.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
            for t in ("imported_exchanges", "training_examples", "reviews", "audit_log")}


def write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((json.dumps(x) if not isinstance(x, str) else x) + "\n" for x in lines), encoding="utf-8")
    return path


GOOD = {"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}


def mathdial_line(qid: str = "42") -> dict:
    """A small transcript in MathDial's shape, written for this test."""
    return {
        "qid": qid, "question": "Tom has 3 bags of 4 apples. How many apples?",
        "student_incorrect_solution": "3 + 4 = 7\\n 7",
        "student_profile": "Mia is a 6th grade student who rushes.",
        "conversation": "Teacher: (generic)Walk me through your solution?|EOM|"
                        "Student: I added 3 and 4 to get 7.|EOM|"
                        "Teacher: (focus)How many apples are in one bag?|EOM|"
                        "Student: 4, so 3 bags is 3 x 4 = 12.|EOM|"
                        "Teacher: (telling)Yes: 3 groups of 4 is multiplication, 12.",
    }


def test_export_then_import_round_trip_gives_equal_examples(db: Database, classroom: Classroom, tmp_path,
                                                           data_dir) -> None:
    t = classroom.teacher
    chat.set_feedback(db, classroom.replies[1].id, suggestion="2/3, since 1+1=2 thirds.")
    review.approve(db, t, classroom.replies[0].id, prompt_for=fixed_prompt)
    review.edit_and_approve(db, t, classroom.replies[1].id, "2/3, since 1+1=2 thirds.", prompt_for=fixed_prompt)
    review.reject(db, t, classroom.replies[2].id, "vague")
    originals = review.list_examples(db)

    def comparable(examples):
        return [(e.prompt, e.completion, e.mode, e.topic, e.grade) for e in examples]

    for fmt in ("messages", "prompt-completion"):
        out = tmp_path / f"export-{fmt}.jsonl"
        assert exchange.export_examples(db, t, out, fmt=fmt) == 2
        first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
        if fmt == "messages":
            assert first["messages"][-1] == {"role": "assistant", "content": "3/4: write 1/2 as 2/4 and add."}
        else:
            assert first["completion"] == [{"role": "assistant", "content": "3/4: write 1/2 as 2/4 and add."}]
            assert first["prompt"][-1] == {"role": "user", "content": "What is 1/2 + 1/4?"}
        with Database(tmp_path / f"other-{fmt}.db") as other:
            from storage import auth
            from tests.support.classroom import FAST

            other_teacher = auth.create_teacher(other, None, "Mr Park", "another password", params=FAST)
            report = exchange.import_file(other, other_teacher, out, fmt=fmt, as_status="approved")
            assert (report.imported, report.duplicates, report.problems) == (2, 0, ())
            assert comparable(review.list_examples(other)) == comparable(originals)
            # Each example keeps its split id, so it lands in the same train / held-out split there.
            assert [e.uid for e in review.list_examples(other)] == [e.uid for e in originals]
            # Importing the same file again finds only duplicates.
            again = exchange.import_file(other, other_teacher, out, fmt=fmt, as_status="approved")
            assert (again.imported, again.duplicates) == (0, 2)
            # And exporting from the second database gives the same lines (apart from metadata).
            out2 = tmp_path / f"again-{fmt}.jsonl"
            exchange.export_examples(other, other_teacher, out2, fmt=fmt)
            strip = lambda p: [{k: v for k, v in json.loads(x).items() if k != "metadata"}  # noqa: E731
                               for x in p.read_text(encoding="utf-8").splitlines()]
            assert strip(out2) == strip(out)


def test_import_as_pending_goes_through_the_queue(db: Database, teacher, tmp_path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [
        GOOD,
        {"prompt": "Name a prime.", "completion": "7", "metadata": {"mode": "practice", "topic": "Primes"}},
    ])
    report = exchange.import_file(db, teacher, path)
    assert (report.imported, report.status) == (2, "pending")
    queue = review.list_queue(db, teacher)
    assert [(i.kind, i.student_message, i.reply) for i in queue] == [
        ("imported", "What is 2+2?", "4"), ("imported", "Name a prime.", "7")]
    assert review.list_examples(db) == []
    review.approve(db, teacher, queue[1].key)
    review.reject(db, teacher, queue[0].key, "too short to teach anything")
    [example] = review.list_examples(db)
    assert (example.completion, example.mode, example.topic, example.source) == ("7", "practice", "Primes", "import")
    assert example.source_ref == "in.jsonl:2"
    assert review.undo_last(db, teacher).decision == "rejected"
    assert [i.key for i in review.list_queue(db, teacher)] == [queue[0].key]


def test_import_as_approved_can_be_undone_as_one(db: Database, teacher, tmp_path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [GOOD, {"prompt": "3+3?", "completion": "6"}])
    report = exchange.import_file(db, teacher, path, as_status="approved")
    assert len(review.list_examples(db)) == 2
    assert review.undo_last(db, teacher).keys == report.keys
    assert review.list_examples(db) == [] and len(review.list_queue(db, teacher)) == 2


def test_an_imported_split_id_is_kept_once_and_a_taken_one_is_redrawn(db: Database, teacher, tmp_path) -> None:
    line = {**GOOD, "metadata": {"uid": "brackenfield-train-01"}}
    report = exchange.import_file(db, teacher, write_lines(tmp_path / "in.jsonl", [line]), as_status="approved")
    assert [e.uid for e in review.list_examples(db)] == ["brackenfield-train-01"]
    # Undo keeps the withdrawn snapshot (and its uid); approving again must not collide with it.
    review.undo_last(db, teacher)
    review.approve(db, teacher, report.keys[0])
    (example,) = review.list_examples(db)
    assert example.uid != "brackenfield-train-01" and len(example.uid) == 32


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('{"messages": [{"content": "hi"}, {"role": "assistant", "content": "x"}]}', "message 1 has no role"),
    ('{"messages": [{"role": "user", "content": "hi"}, {"content": "x"}]}', "message 2 has no role"),
    ('{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x"}]}', "must be the tutor"),
    ('{"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "x"}]}', "role 'wizard'"),
    ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]}', "reply is empty"),
    ('{"text": "hello"}', 'expected a "messages" list'),
    ("[1, 2]", "JSON object"),
    ('{"prompt": "p", "completion": "c", "metadata": {"uid": "../../etc"}}', "metadata.uid must be"),
    ('{"prompt": "p", "completion": "c", "metadata": {"uid": 7}}', "metadata.uid must be"),
]


@pytest.mark.parametrize(("bad", "expected"), BAD_LINES)
def test_a_malformed_line_rejects_the_whole_file(db: Database, teacher, tmp_path, bad: str, expected: str) -> None:
    path = write_lines(tmp_path / "in.jsonl", [GOOD, bad, {"prompt": "p", "completion": "c"}])
    before = table_counts(db)
    with pytest.raises(ImportRejected, match=rf"(?s)1 bad line; nothing was imported.*line 2: .*{expected}") as err:
        exchange.import_file(db, teacher, path)
    assert [p.line for p in err.value.problems] == [2]
    assert table_counts(db) == before


def test_partial_import_keeps_the_good_lines_and_reports_the_rest(db: Database, teacher, tmp_path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [GOOD, BAD_LINES[1][0], "", {"prompt": "p", "completion": "c"}])
    report = exchange.import_file(db, teacher, path, partial=True)
    assert report.imported == 2
    assert [(p.line, "no role" in p.message) for p in report.problems] == [(2, True)]
    [entry] = audit.list_entries(db, teacher, action_prefix="examples.import")
    assert entry.details["skipped_lines"] == [2]


def test_invalid_utf8_is_reported_with_its_line(db: Database, teacher, tmp_path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"prompt": "café", "completion": "x"}'.encode("latin-1") + b"\n")
    before = table_counts(db)
    with pytest.raises(ImportRejected, match="line 2: not valid UTF-8"):
        exchange.import_file(db, teacher, path)
    assert table_counts(db) == before


def test_a_file_over_50_mb_is_refused_before_reading(db: Database, teacher, tmp_path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: 50 MiB without writing 50 MiB
    before = table_counts(db)
    with pytest.raises(ImportTooLarge, match=r"huge.jsonl is 52\.4 MB; imports are limited to 50 MB.*Nothing"):
        exchange.import_file(db, teacher, path)
    assert table_counts(db) == before


def test_empty_file_and_missing_file(db: Database, teacher, tmp_path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="empty"):
        exchange.import_file(db, teacher, empty)
    with pytest.raises(ValidationError, match="does not exist"):
        exchange.import_file(db, teacher, tmp_path / "nope.jsonl")
    assert table_counts(db)["imported_exchanges"] == 0


def test_mathdial_transcript_becomes_one_exchange_per_answering_teacher_turn(db: Database, teacher, tmp_path) -> None:
    path = write_lines(tmp_path / "mathdial.jsonl", [mathdial_line()])
    system_for = lambda mode, grade, topic: f"system {mode} {grade} {topic}"  # noqa: E731
    report = exchange.import_file(db, teacher, path, fmt="mathdial", system_for=system_for)
    assert report.imported == 3
    items = review.list_queue(db, teacher)
    assert [i.reply for i in items] == [
        "Walk me through your solution?", "How many apples are in one bag?",
        "Yes: 3 groups of 4 is multiplication, 12."]
    assert [(i.mode, i.grade, i.topic) for i in items] == [
        ("hint", "6", "Math word problems"), ("hint", "6", "Math word problems"), ("explain", "6", "Math word problems")]
    detail = review.get_detail(db, teacher, items[2].key)
    assert [t.role for t in detail.context] == ["system", "user", "assistant", "user", "assistant"]
    assert detail.context[0].content == "system explain 6 Math word problems"
    assert detail.context[1].content.startswith("Problem: Tom has 3 bags")
    assert "3 + 4 = 7\n 7" in detail.context[1].content
    assert detail.item.student_message == "4, so 3 bags is 3 x 4 = 12."


def test_mathdial_turn_without_a_role_is_refused(db: Database, teacher, tmp_path) -> None:
    broken = mathdial_line()
    broken["conversation"] = "Teacher: (generic)Hi|EOM|I added them|EOM|Teacher: (focus)Why?"
    path = write_lines(tmp_path / "mathdial.jsonl", [mathdial_line("1"), broken, {"qid": "3"}])
    with pytest.raises(ImportRejected) as err:
        exchange.import_file(db, teacher, path, fmt="mathdial")
    assert [str(p) for p in err.value.problems] == [
        "line 2: turn 2 does not start with 'Teacher:' or 'Student:' (missing role).",
        'line 3: no "conversation" text (MathDial turns separated by |EOM|).']
    assert table_counts(db)["imported_exchanges"] == 0


def test_exchange_needs_a_teacher(db: Database, classroom: Classroom, tmp_path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [GOOD])
    with pytest.raises(PermissionDenied):
        exchange.import_file(db, classroom.student, path)
    with pytest.raises(PermissionDenied):
        exchange.export_examples(db, classroom.student, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
