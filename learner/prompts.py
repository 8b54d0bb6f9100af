"""Chat prompts for the three tutoring modes, built from the files in assets/prompts/ and trimmed
to the model's context window."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from learner.assets import ASSETS_DIR
from learner.types import TutorRequest

PROMPTS_DIR = ASSETS_DIR / "prompts"
MODES = ("explain", "hint", "practice")
TRIM_MARKER = "[…earlier part of the message left out…]\n"
# Never squeeze the prompt below a quarter of the window just to honour a huge max_new_tokens.
MIN_PROMPT_SHARE = 4


@dataclass(frozen=True, kw_only=True)
class BuiltPrompt:
    messages: list[dict[str, str]]
    trimmed: bool
    notice: str | None       # shown to the student when something was left out


@lru_cache(maxsize=16)
def load_prompt_file(name: str, prompts_dir: Path = PROMPTS_DIR) -> str:
    path = prompts_dir / f"{name}.md"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise FileNotFoundError(f"The prompt file {path} is missing; reinstall tutorloop.") from exc


def _fill(text: str, *, grade: str, topic: str) -> str:
    values = {"{grade}": grade.strip() or "not specified", "{topic}": topic.strip() or "general"}
    for placeholder, value in values.items():   # plain replace: prompt text may contain other braces
        text = text.replace(placeholder, value)
    return text


def system_prompt(*, grade: str = "", topic: str = "", prompts_dir: Path = PROMPTS_DIR) -> str:
    """Who the tutor is and who the student is (assets/prompts/system.md)."""
    return _fill(load_prompt_file("system", prompts_dir), grade=grade, topic=topic)


def mode_turn(mode: str, message: str, *, grade: str = "", topic: str = "", prompts_dir: Path = PROMPTS_DIR) -> str:
    """The student's newest message wrapped in the mode's instructions (assets/prompts/<mode>.md,
    with {message} where the message goes). Small models follow instructions next to the question
    far better than ones in the system prompt, so the mode lives here."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}: expected one of {', '.join(MODES)}.")
    template = _fill(load_prompt_file(mode, prompts_dir), grade=grade, topic=topic)
    if "{message}" not in template:
        return f"{template}\n\n{message}"
    before, _, after = template.partition("{message}")   # the message itself is never searched for placeholders
    return before + message + after


_WORKED_EXAMPLE = re.compile(r"^Problem:[ \t]*(?P<problem>.+?)\n```[ \t]*(?:python)?[ \t]*\n(?P<code>.*?)```",
                            re.MULTILINE | re.DOTALL)


def program_messages(problem: str, *, prompts_dir: Path = PROMPTS_DIR) -> list[dict[str, str]]:
    """The chat that asks the model for `def solution()` (assets/prompts/solve_program.md): the
    instructions, then each worked example in the file as a user turn ("Problem: …") answered by an
    assistant turn (its program), then the problem. A small coder model copies worked examples far
    better than it follows instructions alone (the 0.5B model: 7/20 GSM8K programs right with the
    examples, 1 of 8 without). A file without examples (or with {message}, the older form) is one
    user turn."""
    text = load_prompt_file("solve_program", prompts_dir)
    if "{message}" in text:
        before, _, after = text.partition("{message}")
        return [{"role": "user", "content": before + problem + after}]
    examples = list(_WORKED_EXAMPLE.finditer(text))
    instructions = text[:examples[0].start()].strip() if examples else text
    messages: list[dict[str, str]] = []
    for example in examples:
        asked = f"Problem: {' '.join(example['problem'].split())}"
        messages.append({"role": "user", "content": f"{instructions}\n\n{asked}" if not messages else asked})
        messages.append({"role": "assistant", "content": f"```python\n{example['code'].rstrip()}\n```"})
    asked = f"Problem: {problem}"
    messages.append({"role": "user", "content": f"{instructions}\n\n{asked}" if not examples else asked})
    return messages


def render_chat(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of the conversation, ending where the assistant's reply starts."""
    if getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(encoded["input_ids"])
    # A base model without a chat template: a plain transcript still works reasonably.
    text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in messages) + "Assistant:"
    return list(tokenizer(text)["input_ids"])


def build_prompt(request: TutorRequest, tokenizer: Any, *, context_window: int, max_new_tokens: int,
                 prompts_dir: Path = PROMPTS_DIR) -> BuiltPrompt:
    """System + history + the new message, dropping the oldest turns and then the start of the
    message itself until the prompt leaves room for `max_new_tokens` in the context window."""
    budget = max(context_window - max_new_tokens, context_window // MIN_PROMPT_SHARE)
    system = {"role": "system", "content": system_prompt(grade=request.grade, topic=request.topic,
                                                         prompts_dir=prompts_dir)}
    history = [{"role": t.role, "content": t.content} for t in request.history if t.content.strip()]
    user_text = request.user_text

    def user_turn(text: str) -> dict[str, str]:
        content = mode_turn(request.mode, text, grade=request.grade, topic=request.topic, prompts_dir=prompts_dir)
        # Verified results sit right after the question, where a small model heeds them most.
        return {"role": "user", "content": f"{content}\n\n{request.facts}" if request.facts else content}

    def fits(hist: list[dict[str, str]], text: str) -> bool:
        return len(render_chat(tokenizer, [system, *hist, user_turn(text)])) <= budget

    notices: list[str] = []
    dropped = 0
    while history and not fits(history, user_text):
        history.pop(0)   # the oldest turn goes first: the recent ones matter most for the reply
        dropped += 1
    if dropped:
        notices.append(f"{dropped} earlier message{'s' if dropped != 1 else ''} of this conversation "
                       f"{'were' if dropped != 1 else 'was'} left out to fit the model's context window.")
    if not fits(history, user_text):
        if not fits(history, TRIM_MARKER):
            raise ValueError("The tutoring instructions alone do not fit the model's context window; "
                             "choose a model with a larger context or fewer max new tokens.")
        lo, hi = 0, len(user_text)   # the longest tail of the message that fits (binary search)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(history, TRIM_MARKER + user_text[-mid:]):
                lo = mid
            else:
                hi = mid - 1
        user_text = TRIM_MARKER + user_text[len(user_text) - lo:]
        notices.append(f"Your message was trimmed to fit the model's context window "
                       f"(kept the last {lo:,} of {len(request.user_text):,} characters).")
    messages = [system, *history, user_turn(user_text)]
    return BuiltPrompt(messages=messages, trimmed=bool(notices), notice=" ".join(notices) or None)
