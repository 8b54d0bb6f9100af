"""The prompt a chat reply was answering, rendered for the training-example snapshot at approval.

storage.review cannot import the learner, so the app and CLI pass `prompt_messages_for` as the
`prompt_for` builder. It renders the same shape as learner.prompts.build_prompt: the system prompt
for the student's grade/topic, the earlier turns as they were, and the student's message wrapped in
the mode's instructions (learner.prompts.mode_turn). No tokenizer is needed, so the CLI can approve
without loading a model; the history is therefore not trimmed to a context window here (the
training job truncates to its own sequence length).
"""
from __future__ import annotations

from learner.prompts import MODES, mode_turn, system_prompt
from storage.review import ReplyContext

# Replies stored without a mode (older rows) are treated as plain explanations.
FALLBACK_MODE = "explain"


def prompt_messages_for(ctx: ReplyContext) -> list[dict[str, str]]:
    mode = ctx.mode if ctx.mode in MODES else FALLBACK_MODE
    *earlier, student = [t for t in ctx.history if t.content.strip()]
    messages = [{"role": "system", "content": system_prompt(grade=ctx.grade, topic=ctx.topic)}]
    messages += [{"role": t.role, "content": t.content} for t in earlier]
    messages.append({"role": "user", "content": mode_turn(mode, student.content, grade=ctx.grade, topic=ctx.topic)})
    return messages
