"""The prompt a chat reply was answering, rendered for the training-example snapshot at approval.

storage.review cannot import the learner, so the app and CLI pass `prompt_messages_for` as the
`prompt_for` builder: system prompt for the reply's mode/grade/topic (learner.prompts, from
assets/prompts/*.md) + the earlier turns + the student message. No tokenizer is needed, so the CLI
can approve without loading a model; the history is not trimmed to a context window here (the
training job truncates to its own sequence length).
"""
from __future__ import annotations

from learner.prompts import MODES, system_prompt
from storage.review import ReplyContext

# Replies stored without a mode (older rows, imports) are treated as plain explanations.
FALLBACK_MODE = "explain"


def prompt_messages_for(ctx: ReplyContext) -> list[dict[str, str]]:
    mode = ctx.mode if ctx.mode in MODES else FALLBACK_MODE
    system = system_prompt(mode, grade=ctx.grade, topic=ctx.topic)
    turns = [{"role": t.role, "content": t.content} for t in ctx.history if t.content.strip()]
    return [{"role": "system", "content": system}, *turns]
