"""Side-by-side answers: the active adapter (or the base) against a candidate, on sample prompts
(its held-out examples, the teachers' must-pass prompts, or prompts from a file). Used by
`tutorloop adapters compare` and the Adaptation view (on a worker thread, never the UI thread)."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learner.adapt.evaluate import check_answer
from learner.prompts import MODES, build_prompt


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparePrompt:
    label: str                               # "held-out example 12", "must-pass 3", "prompts.txt:4"
    messages: tuple[dict[str, str], ...]     # the prompt exactly as the model sees it
    question: str                            # what to show the teacher
    reference: str | None = None             # the approved answer (held-out examples)
    must_match: tuple[str, ...] = ()
    must_not_match: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparedAnswer:
    prompt: ComparePrompt
    left: str                                # the active adapter's (or base's) answer
    right: str                               # the candidate's
    left_failures: tuple[str, ...] = ()
    right_failures: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.prompt.label, "question": self.prompt.question, "reference": self.prompt.reference,
                "left": self.left, "right": self.right, "left_failures": list(self.left_failures),
                "right_failures": list(self.right_failures)}


def _student_text(messages: Sequence[dict[str, str]]) -> str:
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


def prompts_for(db: Any, version: int, *, limit: int = 8) -> list[ComparePrompt]:
    """The version's held-out examples (up to `limit`) and every must-pass prompt."""
    from learner.prompts import mode_turn, system_prompt
    from storage import adapters
    from storage.review import get_example

    prompts = []
    for example_id in adapters.example_ids(db, version, "heldout")[:limit]:
        try:
            ex = get_example(db, example_id)
        except Exception:  # deleted with a student's data: nothing to show
            continue
        prompts.append(ComparePrompt(label=f"held-out example {ex.id}", messages=tuple(dict(m) for m in ex.prompt),
                                     question=_student_text(ex.prompt), reference=ex.completion))
    for item in adapters.list_must_pass(db):
        messages = ({"role": "system", "content": system_prompt()},
                    {"role": "user", "content": mode_turn(item.mode, item.prompt)})
        prompts.append(ComparePrompt(label=f"must-pass {item.id}", messages=messages, question=item.prompt,
                                     must_match=item.must_match, must_not_match=item.must_not_match))
    return prompts


def prompts_from_file(path: Path) -> list[ComparePrompt]:
    """One prompt per line, or JSON lines {"prompt": ..., "mode": "explain|hint|practice"}."""
    from learner.prompts import mode_turn, system_prompt

    prompts = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        mode = "explain"
        text = line.strip()
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            text, mode = str(record.get("prompt", "")).strip(), record.get("mode", "explain")
            if not text or mode not in MODES:
                raise ValueError(f"{path}:{number}: needs a non-empty \"prompt\" and a mode in {', '.join(MODES)}")
        messages = ({"role": "system", "content": system_prompt()}, {"role": "user", "content": mode_turn(mode, text)})
        prompts.append(ComparePrompt(label=f"{Path(path).name}:{number}", messages=messages, question=text))
    return prompts


def generate_reply(tutor: Any, messages: Sequence[dict[str, str]], *, max_new_tokens: int,
                   stop: threading.Event | None = None) -> str:
    """Greedy, through the tutor's engine with its stop tokens, so adapters behave as in the chat. The
    oldest part of a prompt too long for the context window is dropped."""
    from learner.settings import GenerationSettings

    engine = tutor.engine
    ids = engine.render([dict(m) for m in messages])
    ids = ids[-(engine.context_window - max_new_tokens):]
    settings = GenerationSettings(temperature=0.0, max_new_tokens=max_new_tokens)
    generation = engine.stream(ids, tutor.sampling(settings), stop)
    return "".join(generation).strip()


def compare(tutor: Any, prompts: Sequence[ComparePrompt], *, left: tuple[Path | None, int | None],
            right: tuple[Path, int], max_new_tokens: int = 160,
            on_answer: Callable[[int, int], None] | None = None,
            cancel: threading.Event | None = None) -> list[ComparedAnswer]:
    """Answers of `left` (the active adapter, or (None, None) for the base) and `right` (the candidate)
    on each prompt. Swaps adapters on `tutor` and restores the one it had."""
    restore = (tutor.adapter_path, tutor.adapter_version)
    total = 2 * len(prompts)
    lefts, rights = [], []
    try:
        for side, (path, version), out in (("left", left, lefts), ("right", right, rights)):
            tutor.set_adapter(path, version)
            for prompt in prompts:
                if cancel is not None and cancel.is_set():
                    return []
                out.append(generate_reply(tutor, prompt.messages, max_new_tokens=max_new_tokens, stop=cancel))
                if on_answer is not None:
                    on_answer(len(lefts) + len(rights), total)
    finally:
        tutor.set_adapter(*restore)
    return [ComparedAnswer(prompt=p, left=l, right=r,
                           left_failures=check_answer(l, p.must_match, p.must_not_match) if p.must_match or p.must_not_match else (),
                           right_failures=check_answer(r, p.must_match, p.must_not_match) if p.must_match or p.must_not_match else ())
            for p, l, r in zip(prompts, lefts, rights, strict=True)]


__all__ = ["ComparePrompt", "ComparedAnswer", "build_prompt", "compare", "prompts_for", "prompts_from_file"]
