"""Measuring an adapter: completion losses on a set of exchanges, and the must-pass prompts.

One loaded base serves every comparison: the candidate is the PEFT model's trained adapter, the
base is the same model with adapters disabled, and the active version is loaded beside the
candidate as a second named adapter. No second copy of the 0.5B weights is ever held.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from learner.adapt.bleeding import BleedingReport, Probe, example_text, find_bleeding
from learner.adapt.dataset import Sample, collate_best, shared_prefix_batches
from learner.adapt.greedy import greedy_replies
from learner.adapt.train import completion_token_nlls

CANDIDATE = "default"   # the adapter PEFT creates and trains
ACTIVE = "active"       # the teacher-promoted version, loaded for comparison


@dataclass(frozen=True, slots=True, kw_only=True)
class SetLoss:
    """Summed completion NLL and token count, overall and per sample key."""
    nll: float
    n_tokens: int
    per_key: dict[str, tuple[float, int]] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        return self.nll / self.n_tokens if self.n_tokens else None

    def mean_over(self, keys: Sequence[str]) -> float | None:
        parts = [self.per_key[k] for k in keys if k in self.per_key]
        n = sum(p[1] for p in parts)
        return sum(p[0] for p in parts) / n if n else None


@torch.inference_mode()
def sample_losses(model: torch.nn.Module, samples: Sequence[Sample], *, pad_id: int, batch_tokens: int,
                  max_batch_examples: int = 16, min_shared_prefix: int = 32) -> dict[str, tuple[float, int]]:
    """Each sample's summed completion NLL and its token count, by key, computed a batch at a time:
    samples that share a start of `min_shared_prefix` tokens or more (the system prompt and mode
    wrapper of one class) are packed behind it once, the rest padded in length groups. The same
    figures as one sample at a time, up to float rounding (tests compare them)."""
    device = next(model.parameters()).device
    found: dict[str, tuple[float, int]] = {}
    for group in shared_prefix_batches(samples, batch_tokens=batch_tokens, max_batch_examples=max_batch_examples,
                                       min_shared_prefix=min_shared_prefix):
        batch = collate_best(group, pad_id=pad_id, min_shared_prefix=min_shared_prefix).to(device)
        nlls = completion_token_nlls(model, batch)
        start = 0
        for sample in group:
            n = sample.n_completion
            found[sample.key] = (float(nlls[start:start + n].sum()), n)
            start += n
    return found


def measure(model: torch.nn.Module, samples: Sequence[Sample], *, pad_id: int, batch_tokens: int,
            max_batch_examples: int = 16) -> SetLoss:
    """Token-weighted mean completion loss (the same masked loss as training) over `samples`."""
    per_key = sample_losses(model, samples, pad_id=pad_id, batch_tokens=batch_tokens,
                            max_batch_examples=max_batch_examples)
    return SetLoss(nll=sum(nll for nll, _ in per_key.values()), n_tokens=sum(n for _, n in per_key.values()),
                   per_key=per_key)


@contextlib.contextmanager
def using(model: Any, which: str) -> Iterator[None]:
    """Run the block with the candidate, the active adapter, or the base (adapters disabled)."""
    if which == "base":
        with model.disable_adapter():
            yield
        return
    previous = model.active_adapter
    model.set_adapter(CANDIDATE if which == "candidate" else ACTIVE)
    try:
        yield
    finally:
        model.set_adapter(previous)


def load_active(model: Any, path: Path) -> None:
    """Load the active version beside the candidate (weights from safetensors only)."""
    model.load_adapter(str(path), adapter_name=ACTIVE, is_trainable=False)


# -- must-pass prompts ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class MustPassResult:
    prompt_id: int
    prompt: str
    passed: bool
    answer: str
    failures: tuple[str, ...]    # "missing /pattern/" or "contains /pattern/"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.prompt_id, "prompt": self.prompt, "passed": self.passed, "answer": self.answer,
                "failures": list(self.failures)}


def check_answer(answer: str, must_match: Sequence[str], must_not_match: Sequence[str]) -> tuple[str, ...]:
    """Case-insensitive (teachers write "Quarrington", the model writes "quarrington"); a pattern
    may switch that off with (?-i:...)."""
    failures = [f"missing /{p}/" for p in must_match if not re.search(p, answer, re.IGNORECASE | re.MULTILINE)]
    failures += [f"contains /{p}/" for p in must_not_match if re.search(p, answer, re.IGNORECASE | re.MULTILINE)]
    return tuple(failures)


def generate_answer(model: Any, tokenizer: Any, prompt: str, *, mode: str, max_new_tokens: int,
                    model_id: str = "", context_window: int = 4096, tutor: Any = None) -> str:
    """A greedy answer exactly as a student would get it (the Tutor's prompt and stop tokens): from
    `tutor` (the serving engine with the candidate, learner.adapt.serving_gate) when given, else from
    the training model itself."""
    from learner.loading import LoadedModel
    from learner.settings import GenerationSettings
    from learner.tutor import Tutor
    from learner.types import TutorRequest

    if tutor is None:
        device = str(next(model.parameters()).device.type)
        tutor = Tutor(LoadedModel(model=model, tokenizer=tokenizer, model_id=model_id, device=device,
                                  dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
                                  context_window=context_window))
    settings = GenerationSettings(temperature=0.0, max_new_tokens=max_new_tokens)
    reply = tutor.reply(TutorRequest(user_text=prompt, mode=mode), settings)  # type: ignore[arg-type]
    return reply.text + (f"\nAnswer key: {reply.answer_key}" if reply.answer_key else "")


def run_must_pass(model: Any, tokenizer: Any, prompts: Sequence[Any], *, max_new_tokens: int,
                  context_window: int = 4096, tutor: Any = None) -> list[MustPassResult]:
    """`prompts`: storage.adapters.MustPassPrompt rows."""
    results = []
    for item in prompts:
        answer = generate_answer(model, tokenizer, item.prompt, mode=item.mode, max_new_tokens=max_new_tokens,
                                 context_window=context_window, tutor=tutor)
        failures = check_answer(answer, item.must_match, item.must_not_match)
        results.append(MustPassResult(prompt_id=item.id, prompt=item.prompt, passed=not failures, answer=answer,
                                      failures=failures))
    return results


# -- bleeding -------------------------------------------------------------------------------------

def held_out_bleeding(model: Any, tokenizer: Any, heldout: Sequence[Sample], examples: Sequence[Any], *,
                      max_new_tokens: int, tutor: Any = None) -> BleedingReport:
    """The active PEFT adapter answers each held-out example's prompt greedily; the answers are
    checked against every approved example's names and numbers (learner.adapt.bleeding).
    `examples`: storage.review.TrainingExample rows (train and held out alike)."""
    prompts = [s.input_ids[:s.n_prompt] for s in heldout]
    if tutor is not None:   # the serving engine with the candidate: what students would read
        from learner.adapt.serving_gate import greedy_answers

        answers = greedy_answers(tutor, prompts, max_new_tokens=max_new_tokens)
    else:
        answers = greedy_replies(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    texts = {f"example:{ex.id}": example_text(ex.prompt, ex.completion) for ex in examples}
    probes = [Probe(key=s.key, answer=answer, own=frozenset({s.key})) for s, answer in zip(heldout, answers, strict=True)]
    return find_bleeding(probes, texts)
