"""Measured influence of approved examples on one reply (TracIn-style, on the adapter's weights only).

    score(example) = ∇θ L(example) · ∇θ L(reply)

θ is the adapter's LoRA weights (the base is frozen, so nothing else was trained), L the mean
negative log-likelihood of an exchange's completion tokens (the loss training used on approved
examples), both at the adapter's final weights. This is TracIn with one checkpoint and the learning
rate dropped (a constant that does not change the order): a positive score means a training step on
the example lowers the loss of this reply, so the example pushed the adapter towards it; negative,
away from it. Only the top `TOP` examples BM25 retrieves (storage.example_search) are scored, since a
gradient per example costs a forward and a backward pass.

Examples are ranked by the cosine of the two gradients, and the dot product is reported beside it.
The raw dot product grows with the size of an example's gradient, and that is mostly its length: the
loss is a mean over completion tokens, so a five-token answer has a far larger gradient than a
sentence. Measured on the tiny model (tests/learner/adapt/test_influence.py), the raw dot product put
"2 + 2 = 4." first and the planted example about the same fact as the reply second, at a cosine of
0.997 against at most 0.56 for any other. Ranking by cosine is the normalised TracIn of the literature
(gradient-similarity, as in RelatIF); `order="dot"` gives the raw ranking.

The model is loaded here (learner.loading.load_model + peft), never taken from the chat's Tutor: the
chat may serve with another engine, and this needs gradients in a training dtype.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

TOP = 20                     # examples scored (the BM25 top of the adapter's training examples)


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """A prompt (chat messages as the model saw them) and the completion whose loss is taken."""
    prompt: tuple[dict[str, str], ...]
    completion: str
    example_id: int | None = None
    question: str = ""           # what to show a teacher
    approved_by_name: str = ""
    approved_at: str = ""
    review_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InfluenceScore:
    example_id: int
    score: float                 # ∇L(example) · ∇L(reply) over the LoRA weights
    cosine: float                # the same, normalised: -1 … 1
    question: str
    answer: str
    approved_by_name: str
    approved_at: str
    review_key: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"example_id": self.example_id, "influence": self.score, "cosine": self.cosine,
                "question": self.question, "answer": self.answer, "approved_by": self.approved_by_name,
                "approved_at": self.approved_at, "review_key": self.review_key}


@dataclass(frozen=True, slots=True, kw_only=True)
class InfluenceResult:
    scores: tuple[InfluenceScore, ...]       # most influential first (by cosine unless asked otherwise)
    stopped: bool                            # Stop was pressed: scores holds those done so far
    seconds: float
    n_parameters: int                        # LoRA weights the gradients span


@dataclass(slots=True)
class InfluenceProgress:
    """Written by the worker thread, polled by a UI timer (plain ints: no lock needed to read them)."""
    done: int = 0
    total: int = 0
    detail: str = ""


Progress = Callable[[int, int, str], None]
Order = Literal["cosine", "dot"]


# -- inputs from the database ---------------------------------------------------------------------

def influence_inputs(db: Any, actor: Any, message_id: int, *, top: int = TOP) -> tuple[Exchange, list[Exchange]]:
    """The reply as an exchange (its recorded prompt, else one built from the student's message) and
    the `top` BM25-closest training examples of the adapter that wrote it. Teacher-only (storage checks)."""
    from learner.prompts import mode_turn, system_prompt
    from storage import chat
    from storage.example_search import explain, similar_examples
    from storage.review import get_example, recorded_prompt

    found = explain(db, message_id, actor=actor, limit=1)
    if found.adapter_version is None:
        raise ValueError(f"Reply {message_id} was written by the base model: no adapter, so no approved example "
                         "trained what wrote it.")
    prompt = recorded_prompt(db, message_id)
    if not prompt:
        message = chat.get_message(db, message_id)
        session = chat.get_session(db, message.session_id)
        prompt = [{"role": "system", "content": system_prompt(topic=session.topic)},
                  {"role": "user", "content": mode_turn(message.mode or "explain", found.question, topic=session.topic)}]
    reply = Exchange(prompt=tuple(dict(m) for m in prompt), completion=found.reply, question=found.question)
    examples = []
    for hit in similar_examples(db, actor, version=found.adapter_version, text=f"{found.question}\n{found.reply}",
                                limit=top):
        example = get_example(db, hit.example_id)
        examples.append(Exchange(prompt=example.prompt, completion=example.completion, example_id=example.id,
                                 question=hit.question, approved_by_name=hit.approved_by_name,
                                 approved_at=hit.approved_at, review_key=hit.review_key))
    return reply, examples


# -- gradients -------------------------------------------------------------------------------------

def lora_parameters(model: Any) -> list[Any]:
    """The adapter's weights (lora_A / lora_B of the active adapter), made to require gradients; every
    other weight is frozen so no gradient is computed for it."""
    params = []
    for name, param in model.named_parameters():
        trainable = "lora_" in name
        param.requires_grad_(trainable)
        if trainable:
            params.append(param)
    if not params:
        raise ValueError("The model has no LoRA weights: load an adapter before measuring influence.")
    return params


def loss_gradient(model: Any, params: Sequence[Any], exchange: Exchange, tokenizer: Any, *,
                  max_length: int) -> Any:
    """∇θ of the exchange's mean completion NLL, flattened to one fp32 vector."""
    import torch

    from learner.adapt.dataset import collate, encode_exchange
    from learner.adapt.train import completion_nll

    sample = encode_exchange(tokenizer, exchange.prompt, exchange.completion, max_length=max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch = collate([sample], pad_id=pad_id).to(params[0].device)
    nll, n = completion_nll(model, batch)
    grads = torch.autograd.grad(nll / max(n, 1), list(params))
    return torch.cat([g.reshape(-1).float() for g in grads])


def influence_scores(model: Any, tokenizer: Any, reply: Exchange, examples: Sequence[Exchange], *,
                     max_length: int = 1024, on_progress: Progress | None = None,
                     stop: threading.Event | None = None, order: Order = "cosine") -> InfluenceResult:
    """Score each example against the reply (see the module docstring); highest first by `order`.
    Stop ends it between examples, with the scores done so far."""
    started = time.perf_counter()
    params = lora_parameters(model)
    was_training = model.training
    model.eval()          # no dropout: the gradient of the loss the adapter actually has
    emit = on_progress or (lambda done, total, detail: None)
    total = len(examples) + 1
    scores: list[InfluenceScore] = []
    stopped = False
    try:
        emit(0, total, "the reply's gradient")
        target = loss_gradient(model, params, reply, tokenizer, max_length=max_length)
        target_norm = float(target.norm())
        emit(1, total, "examples")
        for i, example in enumerate(examples, start=2):
            if stop is not None and stop.is_set():
                stopped = True
                break
            grad = loss_gradient(model, params, example, tokenizer, max_length=max_length)
            dot = float(grad @ target)
            norm = float(grad.norm()) * target_norm
            scores.append(InfluenceScore(example_id=int(example.example_id or 0), score=dot,
                                         cosine=dot / norm if norm else 0.0, question=example.question,
                                         answer=example.completion, approved_by_name=example.approved_by_name,
                                         approved_at=example.approved_at, review_key=example.review_key))
            emit(i, total, f"example {example.example_id}")
    finally:
        for param in params:
            param.requires_grad_(False)
        model.train(was_training)
    scores.sort(key=lambda s: (-(s.cosine if order == "cosine" else s.score), s.example_id))
    return InfluenceResult(scores=tuple(scores), stopped=stopped, seconds=time.perf_counter() - started,
                           n_parameters=sum(p.numel() for p in params))


# -- loading ---------------------------------------------------------------------------------------

def load_adapted(model_path: Path, model_id: str, adapter_path: Path, *, device: str = "auto") -> tuple[Any, Any]:
    """The base model (learner.loading.load_model; fp32, bf16 on CUDA) with the adapter on it (peft,
    safetensors only): (PeftModel, tokenizer)."""
    from peft import PeftModel

    from learner.loading import load_model, resolve_device
    from learner.sources import PreparedModel

    device = resolve_device(device)
    # fp32 on CPU: the dot products of small LoRA gradients lose their order in bf16 there.
    dtype = "bfloat16" if device == "cuda" else "float32"
    loaded = load_model(PreparedModel(model_id=model_id, path=Path(model_path)), device=device, dtype=dtype)
    model = PeftModel.from_pretrained(loaded.model, str(adapter_path), is_trainable=False)
    return model, loaded.tokenizer


@dataclass(frozen=True, slots=True, kw_only=True)
class InfluenceJob:
    """A TutorJob for the model worker's thread (one model job at a time, and Stop): loads its own
    copy of the base with the adapter and scores the examples. `progress` is polled by the window."""
    model_spec: str
    data_dir: Any                            # storage.DataDir
    adapter_path: Path
    reply: Exchange
    examples: tuple[Exchange, ...]
    device: str = "auto"
    progress: InfluenceProgress = field(default_factory=InfluenceProgress)

    def run_with_tutor(self, tutor: Any, settings: Any, stop: threading.Event) -> InfluenceResult:
        return self.run(stop)

    def run(self, stop: threading.Event | None = None, on_progress: Progress | None = None) -> InfluenceResult:
        from learner.sources import prepare_model

        def report(done: int, total: int, detail: str) -> None:
            self.progress.done, self.progress.total, self.progress.detail = done, total, detail
            if on_progress is not None:
                on_progress(done, total, detail)

        report(0, len(self.examples) + 1, "loading the model and the adapter")
        prepared = prepare_model(self.model_spec, self.data_dir, cancel=stop)
        model, tokenizer = load_adapted(prepared.path, prepared.model_id, self.adapter_path, device=self.device)
        return influence_scores(model, tokenizer, self.reply, self.examples, on_progress=report, stop=stop)


__all__ = ["TOP", "Exchange", "InfluenceJob", "InfluenceProgress", "InfluenceResult", "InfluenceScore",
           "influence_inputs", "influence_scores", "load_adapted", "lora_parameters", "loss_gradient"]
