"""Hostile import files end in a per-line message, never a traceback, and write nothing."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from storage import Database, exchange, review
from storage.users import User

GOOD = json.dumps({"messages": [{"role": "user", "content": "What is 1/2 + 1/4?"},
                                {"role": "assistant", "content": "3/4."}]})


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


HOSTILE = {
    "nested 1,000 deep": (json.dumps({"messages": "X"}).replace('"X"', deep(1000)), "nested too deeply"),
    "nested 100,000 deep": ('{"messages": ' + deep(100_000) + "}", "nested too deeply"),
    "lone surrogate": ('{"messages": [{"role": "user", "content": "hi \\ud800"}, '
                       '{"role": "assistant", "content": "hello"}]}', "invalid character"),
    "lone surrogate in the reply": ('{"prompt": "hi", "completion": "\\udfff"}', "invalid character"),
    "5,000-digit integer": ('{"messages": [], "n": ' + "9" * 5000 + "}", "too long"),
    "surrogate in the topic": ('{"prompt": "hi", "completion": "ok", "metadata": {"topic": "\\ud83d"}}',
                               "invalid character"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_line_is_reported_by_number_and_nothing_is_written(db: Database, teacher: User, tmp_path: Path,
                                                                    case: str) -> None:
    line, expected = HOSTILE[case]
    path = tmp_path / "hostile.jsonl"
    path.write_text(GOOD + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(exchange.ImportRejected) as rejected:
        exchange.import_file(db, teacher, path)
    (problem,) = rejected.value.problems
    assert problem.line == 2 and expected in problem.message
    assert db.query("SELECT COUNT(*) AS n FROM imported_exchanges")[0]["n"] == 0
    report = exchange.import_file(db, teacher, path, partial=True)       # the good line alone
    assert report.imported == 1 and [p.line for p in report.problems] == [2]


def test_mathdial_with_deep_or_odd_fields_is_reported(db: Database, teacher: User, tmp_path: Path) -> None:
    line = json.dumps({"qid": 1, "conversation": "Student: 3 + 4 = 8|EOM|Teacher: (probing)How did you add?"})
    hostile = '{"question": ' + deep(900) + ', "conversation": "Student: hi|EOM|Teacher: (focus)ok", "qid": "\\ud800"}'
    path = tmp_path / "mathdial.jsonl"
    path.write_text(line + "\n" + hostile + "\n", encoding="utf-8")
    report = exchange.import_file(db, teacher, path, fmt="mathdial", partial=True)
    assert all(p.line == 2 for p in report.problems)


def test_content_hash_never_raises_on_a_lone_surrogate() -> None:
    assert len(review.content_hash([{"role": "user", "content": "\ud800"}], "x")) == 64


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_a_file_name_that_is_not_utf8_is_shown_not_raised(db: Database, teacher: User, tmp_path: Path) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe.jsonl"))
    path.write_text(GOOD + "\n", encoding="utf-8")
    report = exchange.import_file(db, teacher, path)
    assert report.imported == 1 and "\\udcff" in report.path
    entry = db.query("SELECT target FROM audit_log WHERE action = 'examples.import'")[0]
    assert "\\udcff" in entry["target"]
