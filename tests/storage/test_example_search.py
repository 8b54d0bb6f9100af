"""storage.example_search: the FTS5 index the database fills as a round records its examples, the
top similar approved examples of the adapter that wrote a reply, and who may see them."""
from __future__ import annotations

from pathlib import Path

import pytest

from storage import (
    Database,
    PermissionDenied,
    ValidationError,
    adapters,
    chat,
    review,
    students,
    users,
)
from storage import example_search as search
from storage.users import User
from tests.storage.fake_adapter import write_fake_adapter
from tests.support.classroom import FACTS, add_exchange, approve, fixed_prompt


def _register(db: Database, folder: Path, version: int, *, train: list[int], heldout: list[int] = (),
              promoted_by: User | None = None) -> adapters.AdapterVersion:
    path = write_fake_adapter(folder / f"v{version}", seed=version)
    gate = {"passed": True, "checks": [{"name": "heldout", "passed": True, "skipped": False,
                                        "detail": "Held-out loss 1.2000 is lower than the base's 1.5000."}]}
    adapters.register_adapter(
        db, version=version, base_model_id="tiny", path=str(path), n_examples=len(train), n_heldout=len(heldout),
        n_replay=0, examples_approved_until=None, recipe={}, metrics={}, gate=gate, gate_passed=True,
        gate_reason="All checks passed.", run_id=None, train_ids=list(train), heldout_ids=list(heldout))
    if promoted_by is not None:
        adapters.promote(db, promoted_by, version)
    return adapters.get_adapter(db, version)


@pytest.fixture
def planted(db: Database, teacher: User, tmp_path: Path) -> dict:
    """Imported decoys plus one planted example approved from a real chat, all trained by v1."""
    approve(db, teacher, tmp_path, FACTS)
    ana = users.create_user(db, "Ana", grade="7")
    session = chat.create_session(db, ana.id, title="Volcanoes", topic="Geography")
    reply = add_exchange(db, session.id, "Why do volcanoes erupt near tectonic plate boundaries?",
                         "Magma rises where plates pull apart or sink under each other.")
    decision = review.approve(db, teacher, f"m{reply.id}", prompt_for=fixed_prompt)
    ids = [e.id for e in review.list_examples(db)]
    _register(db, tmp_path, 1, train=ids, promoted_by=teacher)
    return {"example_id": decision.example_id, "review_key": f"m{reply.id}", "all": ids, "student": ana}


def test_retrieval_returns_the_planted_example_first_with_approver_and_date(db, teacher, planted) -> None:
    found = search.similar_examples(db, teacher, version=1, text="why does a volcano erupt at plate boundaries")
    assert found[0].example_id == planted["example_id"]
    assert found[0].approved_by_name == teacher.name and found[0].approved_at
    assert found[0].review_key == planted["review_key"]          # opens in the review window
    assert "volcanoes" in found[0].question and "Magma" in found[0].answer
    assert len(found) <= search.SHOWN
    # Unrelated words find nothing of it; words no example has find nothing at all.
    assert planted["example_id"] not in [s.example_id for s in search.similar_examples(
        db, teacher, version=1, text="When does the first bell ring?")]
    assert search.similar_examples(db, teacher, version=1, text="zzyzx qqwv") == []
    assert search.similar_examples(db, teacher, version=1, text="?!") == []


def test_only_the_versions_own_training_split_is_searched(db, teacher, planted, tmp_path) -> None:
    others = [i for i in planted["all"] if i != planted["example_id"]]
    _register(db, tmp_path, 2, train=others, heldout=[planted["example_id"]])
    found = search.similar_examples(db, teacher, version=2, text="volcanoes erupt tectonic plate boundaries magma")
    assert planted["example_id"] not in [s.example_id for s in found]      # held out: never trained on
    assert search.similar_examples(db, teacher, version=3, text="volcanoes") == []


def test_operators_and_quotes_in_the_text_are_just_words(db, teacher, planted) -> None:
    text = 'volcanoes" OR NEAR( AND * -magma ^col:x'
    assert search.search_query(text) is not None
    assert search.similar_examples(db, teacher, version=1, text=text)[0].example_id == planted["example_id"]


def test_a_student_sees_where_a_reply_came_from_but_no_other_students_examples(db, teacher, planted) -> None:
    session = chat.create_session(db, planted["student"].id, title="More", topic="Geography")
    chat.add_message(db, session.id, "user", "How do volcanoes erupt?", mode="explain")
    reply = chat.add_message(db, session.id, "assistant", "Magma rises.", mode="explain", model_id="tiny",
                             adapter_version=1)
    with pytest.raises(PermissionDenied):
        search.similar_examples(db, planted["student"], version=1, text="volcanoes")

    seen = search.explain(db, reply.id, actor=planted["student"])
    assert not seen.examples_shown and seen.similar == ()
    assert seen.written_by == "tiny with adapter v1" and seen.question == "How do volcanoes erupt?"
    assert f"by {teacher.name}" in seen.promotion and seen.gate_lines()[0].startswith("heldout: passed")

    full = search.explain(db, reply.id, actor=teacher)
    assert full.examples_shown and full.similar[0].example_id == planted["example_id"]
    assert full.to_dict()["similar_label"] == "similar approved examples"

    with pytest.raises(ValidationError, match="student's message"):
        search.explain(db, reply.id - 1, actor=teacher)


def test_a_base_model_reply_has_no_examples_to_show(db, teacher, planted) -> None:
    session = chat.create_session(db, planted["student"].id, title="Base", topic="")
    chat.add_message(db, session.id, "user", "volcanoes?", mode="explain")
    reply = chat.add_message(db, session.id, "assistant", "Magma.", mode="explain", model_id="tiny")
    found = search.explain(db, reply.id, actor=teacher)
    assert found.adapter is None and found.similar == () and "base model" in found.written_by


def test_deleting_a_student_takes_their_examples_out_of_the_index(db, teacher, planted) -> None:
    def indexed() -> set[int]:
        return {r["example_id"] for r in db.query("SELECT example_id FROM example_search")}

    assert planted["example_id"] in indexed()
    students.delete_student(db, teacher, planted["student"].id, confirm_name="Ana")
    assert planted["example_id"] not in indexed()
    assert search.similar_examples(db, teacher, version=1, text="volcanoes magma") == []
