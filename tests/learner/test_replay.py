"""The replay set and the adaptation demo's facts: every line valid, balanced across modes,
subjects and grades, hints that keep the answer back, and a demo whose held-out questions are
really new wordings of trained facts."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from learner.replay import REPLAY_PATH, ReplayDataError, balanced_subset, load_replay

ROOT = Path(__file__).resolve().parents[2]
SCHOOL_FACTS = ROOT / "bench" / "data" / "school_facts.json"
CORE_SUBJECTS = ("maths", "science", "english", "history", "geography", "computing")
MIN_EXAMPLES = 250           # "a few hundred": enough to anchor general tutoring


@pytest.fixture(scope="module")
def replay():
    return load_replay()


# ---- the shipped replay set -------------------------------------------------------------------

def test_every_line_loads_and_counts_match_the_file(replay) -> None:
    lines = [ln for ln in REPLAY_PATH.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert len(replay) == len(lines) >= MIN_EXAMPLES


def test_replay_file_is_current_with_its_sources_and_the_app_prompts() -> None:
    # Rebuilding renders every exchange with learner.prompts.build_prompt; a difference means the
    # prompts or sources changed and replay.jsonl would train on a stale prompt format.
    result = subprocess.run([sys.executable, str(ROOT / "assets" / "replay" / "build_replay.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr + "\n(run: python assets/replay/build_replay.py)"


def test_modes_are_balanced(replay) -> None:
    counts = Counter(ex.mode for ex in replay)
    assert set(counts) == {"explain", "hint", "practice"}
    for mode, n in counts.items():
        assert n / len(replay) >= 0.25, f"{mode}: only {n} of {len(replay)}"


def test_subjects_are_spread(replay) -> None:
    counts = Counter(ex.subject for ex in replay)
    # Every core school subject, a few more besides, and none dominating.
    assert set(CORE_SUBJECTS) <= set(counts), counts
    assert len(set(counts) - set(CORE_SUBJECTS)) >= 4, counts
    assert max(counts.values()) / len(replay) <= 0.25, counts
    assert all(counts[s] / len(replay) >= 0.08 for s in CORE_SUBJECTS), counts
    by_subject_mode = Counter((ex.subject, ex.mode) for ex in replay)
    for subject in CORE_SUBJECTS:
        for mode in ("explain", "hint", "practice"):
            assert by_subject_mode[subject, mode] >= 10, f"{subject}/{mode}: {by_subject_mode[subject, mode]}"


def test_grades_span_four_to_twelve(replay) -> None:
    grades = Counter(ex.grade for ex in replay)
    assert all(g.isdigit() and 4 <= int(g) <= 12 for g in grades), grades
    assert set(grades) == {str(g) for g in range(4, 13)}, grades
    assert min(grades.values()) >= len(replay) // 30, grades


def test_replies_are_short(replay) -> None:
    for ex in replay:
        words = len(ex.completion.split())
        assert 15 <= words <= 130, f"{words} words: {ex.student_message!r}"


def test_no_exchange_is_duplicated(replay) -> None:
    seen = Counter((ex.subject, ex.student_message.strip().lower()) for ex in replay)
    assert [k for k, n in seen.items() if n > 1] == []
    replies = Counter(ex.completion for ex in replay)
    assert [k for k, n in replies.items() if n > 1] == []


def test_practice_replies_end_with_an_answer_key(replay) -> None:
    practice = [ex for ex in replay if ex.mode == "practice"]
    assert practice
    for ex in practice:
        lines = [ln for ln in ex.completion.splitlines() if ln.strip()]
        assert len(lines) >= 2, ex.completion       # a question, then the key
        assert lines[-1].startswith("Answer key: ") and len(lines[-1]) > len("Answer key: ") + 1


def test_only_practice_replies_carry_an_answer_key(replay) -> None:
    for ex in replay:
        if ex.mode != "practice":
            assert "answer key" not in ex.completion.lower(), ex.student_message


def _mentions(text: str, answer: str) -> bool:
    """Whether `answer` appears in `text` as a whole token: "4" is not found inside "14" or "4.5",
    "rotates" is not found inside "rotatesx"."""
    def norm(s: str) -> str:
        return re.sub(r"\s+", " ", s.replace("\u2212", "-")).lower()
    pattern = r"(?<![\w.])" + re.escape(norm(answer)) + r"(?!\w|\.\d)"
    return re.search(pattern, norm(text)) is not None


@pytest.mark.parametrize(("text", "answer", "found"), [
    ("What is 10 x 7?", "70", False),
    ("so it is 70.", "70", True),
    ("between 14 and 4.5", "4", False),
    ("it is \u22125 degrees", "-5", True),
    ("x \u2212 5", "-5", False),
    ("The Earth rotates.", "rotates", True),
])
def test_answer_detector(text: str, answer: str, found: bool) -> None:
    assert _mentions(text, answer) is found


def test_hints_never_state_the_recorded_answer(replay) -> None:
    hints = [ex for ex in replay if ex.mode == "hint"]
    with_answer = [ex for ex in hints if ex.answer]
    assert len(with_answer) >= 0.8 * len(hints), "record the final answer of (nearly) every hint exchange"
    for ex in with_answer:
        for piece in ex.answer.split(";"):
            assert not _mentions(ex.completion, piece.strip()), f"hint gives away {piece.strip()!r}: {ex.completion}"


def test_hints_ask_the_student_something(replay) -> None:
    for ex in replay:
        if ex.mode == "hint":
            assert "?" in ex.completion, ex.completion


def test_hints_stay_short(replay) -> None:
    # The app's hint prompt asks for a few sentences; replay must not teach long hints.
    for ex in replay:
        if ex.mode == "hint":
            sentences = [s for s in re.split(r"(?<=[.!?])\s+", ex.completion.strip()) if s]
            assert len(sentences) <= 5, ex.completion


def test_balanced_subset_spreads_over_modes_and_subjects(replay) -> None:
    subset = balanced_subset(replay, 60, seed=1)
    assert len(subset) == 60 and len(set(map(id, subset))) == 60
    modes = Counter(ex.mode for ex in subset)
    assert max(modes.values()) - min(modes.values()) <= 3, modes
    assert {ex.subject for ex in subset} == {ex.subject for ex in replay}   # 60 > the 36 (mode, subject) groups
    order = [replay.index(ex) for ex in subset]
    assert order == sorted(order)                                           # file order kept
    assert balanced_subset(replay, 60, seed=1) == subset                    # reproducible
    assert balanced_subset(replay, 60, seed=2) != subset
    assert balanced_subset(replay, 10_000) == replay and balanced_subset(replay, 0) == []


# ---- the loader refuses bad lines, naming them ---------------------------------------------------

GOOD = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                     {"role": "assistant", "content": "a reply"}], "mode": "explain", "subject": "maths", "grade": "7"}


def _with(**changes: object) -> dict:
    record = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps(_with(mode="lecture")), "mode 'lecture'"),
    (json.dumps(_with(subject=None)), "missing field subject"),
    (json.dumps(_with(colour="red")), "unknown field colour"),
    (json.dumps(_with(grade="  ")), "'grade' is empty"),
    (json.dumps(_with(messages=[{"role": "user", "content": "q"}])), "at least"),
    (json.dumps(_with(messages=[{"role": "user", "content": "q"}, {"role": "user", "content": "q"}])),
     "last message must be the assistant"),
    (json.dumps(_with(messages=[{"role": "user", "content": "q"}, {"role": "robot", "content": "a"}])), "role 'robot'"),
    (json.dumps(_with(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}])), "empty"),
    (json.dumps(_with(mode="practice")), "must end with a line 'Answer key:"),
    (json.dumps(_with(answer="4")), "only recorded for hint"),
])
def test_bad_lines_are_refused_with_their_line_number(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "replay.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ReplayDataError) as excinfo:
        load_replay(path)
    assert "replay.jsonl:3:" in str(excinfo.value)
    assert message in str(excinfo.value)


def test_a_valid_file_loads_into_examples(tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    practice = _with(mode="practice", messages=[{"role": "user", "content": "q"},
                                                {"role": "assistant", "content": "Question: 2 + 2?\nAnswer key: 4"}])
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(practice) + "\n", encoding="utf-8")
    first, second = load_replay(path)
    assert first.completion == "a reply" and first.prompt_messages[-1] == {"role": "user", "content": "q"}
    assert second.mode == "practice" and second.answer is None


def test_missing_or_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayDataError, match="Cannot read the replay set"):
        load_replay(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(ReplayDataError, match="no exchanges"):
        load_replay(tmp_path / "empty.jsonl")


# ---- the adaptation demo's made-up school --------------------------------------------------------

@pytest.fixture(scope="module")
def school() -> dict:
    return json.loads(SCHOOL_FACTS.read_text(encoding="utf-8"))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _runs(text: str, n: int = 6) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_school_facts_shape(school: dict) -> None:
    assert school["school"].strip()
    assert 30 <= len(school["train"]) <= 40
    assert 10 <= len(school["heldout"]) <= 12
    for item in school["train"]:
        assert set(item) == {"fact_id", "topic", "mode", "user", "assistant"}, item
        assert item["mode"] == "explain" and item["topic"].strip() and item["user"].strip()
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", item["assistant"].strip()) if s]
        assert 1 <= len(sentences) <= 3, item["assistant"]
    for item in school["heldout"]:
        assert set(item) == {"fact_id", "question", "expect_any"}, item
        assert item["expect_any"] and all(e == e.lower() and len(e) >= 3 for e in item["expect_any"]), item


def test_every_heldout_fact_is_trained_at_least_twice(school: dict) -> None:
    trained = Counter(item["fact_id"] for item in school["train"])
    assert all(n >= 2 for n in trained.values()), trained
    for item in school["heldout"]:
        assert trained[item["fact_id"]] >= 2, item["fact_id"]
    assert len({item["fact_id"] for item in school["heldout"]}) == len(school["heldout"]), "one question per fact"


def test_expected_answers_are_taught_by_the_training_items(school: dict) -> None:
    # At least one accepted answer must appear in a training reply for that fact, or the demo
    # would test something the round never taught.
    for item in school["heldout"]:
        replies = " ".join(t["assistant"].lower() for t in school["train"] if t["fact_id"] == item["fact_id"])
        assert any(e in replies for e in item["expect_any"]), item


def test_heldout_questions_are_new_wordings(school: dict) -> None:
    train_questions = [t["user"] for t in school["train"]]
    train_runs = set().union(*(_runs(q) for q in train_questions))
    for item in school["heldout"]:
        shared = _runs(item["question"]) & train_runs
        assert not shared, f"{item['question']!r} repeats {' '.join(next(iter(shared)))!r} from a training question"
        assert item["question"].lower() not in {q.lower() for q in train_questions}


def test_expected_answers_are_not_in_the_question(school: dict) -> None:
    # An answer the question already contains could be "hit" by a model that just echoes it.
    for item in school["heldout"]:
        for expected in item["expect_any"]:
            assert expected not in item["question"].lower(), (expected, item["question"])
