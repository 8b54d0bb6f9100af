"""Measured influence (TracIn-style, LoRA weights only) on the tiny model: a planted example that is
directly relevant to a reply ranks first among the retrieved ones; Stop ends the job early."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from learner.adapt.influence import (
    Exchange,
    InfluenceJob,
    influence_inputs,
    influence_scores,
    load_adapted,
    lora_parameters,
)
from learner.prompts import mode_turn, system_prompt
from learner.review_prompt import prompt_messages_for
from learner.sources import PreparedModel
from storage import Database, DataDir, PermissionDenied, adapters, chat, review, users
from tests.support.classroom import FACTS, add_exchange, approve
from tests.support.tiny_model import save_noisy_adapter

PLANTED_Q = "Which river did the Year 7 trip follow to the lighthouse?"
PLANTED_A = "The trip followed the Glimmerbrook river to Saltmarsh lighthouse."


def _prompt(question: str) -> tuple[dict[str, str], ...]:
    return ({"role": "system", "content": system_prompt()}, {"role": "user", "content": mode_turn("explain", question)})


@pytest.fixture(scope="module")
def adapted(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = save_noisy_adapter(PreparedModel(model_id=tiny_model_dir.name, path=tiny_model_dir),
                                tmp_path_factory.mktemp("influence") / "v1")
    model, tokenizer = load_adapted(tiny_model_dir, tiny_model_dir.name, folder, device="cpu")
    return folder, model, tokenizer


def test_the_planted_example_ranks_first_by_gradient_similarity(adapted) -> None:
    _, model, tokenizer = adapted
    reply = Exchange(prompt=_prompt("Remind me which river the Year 7 trip followed?"), completion=PLANTED_A)
    examples = [Exchange(prompt=_prompt(q), completion=a, example_id=i) for i, (q, a) in enumerate(FACTS, start=1)]
    examples.insert(3, Exchange(prompt=_prompt(PLANTED_Q), completion=PLANTED_A, example_id=99))
    seen: list[tuple[int, int]] = []
    result = influence_scores(model, tokenizer, reply, examples, on_progress=lambda d, t, _: seen.append((d, t)))
    assert result.scores[0].example_id == 99
    assert result.scores[0].score > 0 and result.scores[0].cosine > 0.9 > max(s.cosine for s in result.scores[1:])
    # The raw dot product is kept and can rank by itself; it favours short answers (large gradients).
    by_dot = influence_scores(model, tokenizer, reply, examples, order="dot").scores
    assert [s.score for s in by_dot] == sorted((s.score for s in result.scores), reverse=True)
    assert not result.stopped and len(result.scores) == len(examples)
    assert seen[-1] == (len(examples) + 1, len(examples) + 1)
    # Adapter weights only: the base stays frozen, and nothing is left requiring gradients.
    n_lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    assert result.n_parameters == n_lora < sum(p.numel() for p in model.parameters()) / 5
    assert not any(p.requires_grad for p in model.parameters())


def test_stop_ends_between_examples_with_what_was_done(adapted) -> None:
    _, model, tokenizer = adapted
    stop = threading.Event()
    reply = Exchange(prompt=_prompt("Which river?"), completion=PLANTED_A)
    examples = [Exchange(prompt=_prompt(q), completion=a, example_id=i) for i, (q, a) in enumerate(FACTS, start=1)]

    def progress(done: int, total: int, _detail: str) -> None:
        if done >= 3:
            stop.set()

    result = influence_scores(model, tokenizer, reply, examples, on_progress=progress, stop=stop)
    assert result.stopped and len(result.scores) == 2


def test_a_model_without_an_adapter_is_refused(tiny_loaded) -> None:
    with pytest.raises(ValueError, match="no LoRA weights"):
        lora_parameters(tiny_loaded.model)


def test_the_job_scores_the_retrieved_examples_of_the_adapter_that_wrote_a_reply(
        db: Database, data_dir: DataDir, teacher, tmp_path: Path, tiny_model_dir: Path, adapted) -> None:
    approve(db, teacher, tmp_path, FACTS + [(f"Please tell me: {q}", a) for q, a in FACTS])
    ana = users.create_user(db, "Ana", grade="7")
    session = chat.create_session(db, ana.id, title="Trip", topic="")
    planted = add_exchange(db, session.id, PLANTED_Q, PLANTED_A)
    planted_example = review.approve(db, teacher, f"m{planted.id}", prompt_for=prompt_messages_for)
    ids = [e.id for e in review.list_examples(db)]
    adapters.register_adapter(db, version=1, base_model_id=tiny_model_dir.name, path=str(adapted[0]),
                              n_examples=len(ids), n_heldout=0, n_replay=0, examples_approved_until=None, recipe={},
                              metrics={}, gate={}, gate_passed=True, gate_reason="", run_id=None, train_ids=ids,
                              heldout_ids=[])
    chat.add_message(db, session.id, "user", "Which river did our trip follow to the lighthouse?", mode="explain")
    reply = chat.add_message(db, session.id, "assistant", PLANTED_A, mode="explain", model_id=tiny_model_dir.name,
                             adapter_version=1)

    with pytest.raises(PermissionDenied):
        influence_inputs(db, ana, reply.id)
    target, examples = influence_inputs(db, teacher, reply.id, top=20)
    assert target.completion == PLANTED_A and target.prompt[-1]["role"] == "user"
    assert 1 < len(examples) <= 20 and planted_example.example_id in [e.example_id for e in examples]

    job = InfluenceJob(model_spec=str(tiny_model_dir), data_dir=data_dir, adapter_path=adapted[0], reply=target,
                       examples=tuple(examples), device="cpu")
    result = job.run(threading.Event())
    assert result.scores[0].example_id == planted_example.example_id
    assert result.scores[0].approved_by_name == teacher.name and result.scores[0].review_key == f"m{planted.id}"
    assert job.progress.done == job.progress.total == len(examples) + 1
