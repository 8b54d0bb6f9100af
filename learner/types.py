"""The plain data that crosses from the window or the CLI to the model: requests, replies, jobs.

Torch-free, so the UI, the guard and the prompt builder can use them without loading the model
code (which takes seconds), and no module needs a runtime class factory to dodge an import cycle.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from learner.settings import GenerationSettings
    from learner.tutor import Tutor

Mode = Literal["explain", "hint", "practice"]
GuardOutcome = Literal["passed", "regenerated", "withheld"]


@dataclass(frozen=True, kw_only=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, kw_only=True)
class AnswerGuard:
    """The reply must not give away `answer_key`; `context` is what the student already sees (the
    practice question), so repeating it is not telling."""
    answer_key: str
    context: str = ""
    item_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class TutorRequest:
    user_text: str
    mode: Mode
    history: tuple[Turn, ...] = ()
    grade: str = ""
    topic: str = ""
    guard: AnswerGuard | None = None     # set: the reply is checked against an answer key
    # Verified results (learner.grounded) the reply must agree with; added to the student's turn.
    facts: str = ""


@dataclass(frozen=True, kw_only=True)
class GuardResult:
    """What the answer-key guard did with a reply (recorded as a guard event: the telling rate)."""
    caught: bool                 # the first reply gave the answer away
    outcome: GuardOutcome
    reason: str
    mode: str = "hint"
    item_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class MathsCheck:
    """What the maths engine did for a reply: the results it computed before generating, and what
    it found in the reply afterwards."""
    computed: tuple[str, ...]            # "2/3 + 1/6 = 5/6": the verified statements given to the model
    source: str = "engine"               # engine (recognised in the message) | programs (model-written, run)
    contradictions: tuple[str, ...] = () # results the (first) reply stated wrongly
    regenerated: bool = False            # a reply that contradicted the engine was written again
    corrected: bool = False              # "Checked: …" lines were added to the final text
    confirmation_blocked: bool = False   # the reply called a wrong student result right; replaced
    # The student's own attempt (learner.maths.attempt): verified | wrong_step | wrong_answer |
    # unverified | none, the first wrong step ("15 × 80 = 1199"), and what was done to the reply:
    # replaced (it called a wrong attempt right), hedged (it called an unchecked one right),
    # step_named (a line naming the wrong step was added), or "".
    attempt: str = "none"
    wrong_step: str = ""
    rewrite: str = ""


@dataclass(frozen=True, kw_only=True)
class SafeguardingFlag:
    """Why a message was answered with the safeguarding help text instead of a generated reply
    (learner.safeguarding); the chat records it as an alert for teachers."""
    category: str                        # self_harm | abuse | bullying | danger
    stage: str                           # lexicon | judge_confirmed | judge_unsure | judge_unavailable
    patterns: tuple[str, ...] = ()       # the lexicon pattern ids that matched
    judge: str | None = None             # the model's verdict (yes/no/unsure/unavailable); None: not asked


@dataclass(frozen=True, kw_only=True)
class TutorReply:
    text: str                   # what the student sees (for practice: the question, without the key)
    answer_key: str | None      # practice mode: the parsed answer key (None if the model gave none)
    stopped: bool               # the stop event was set before generation finished
    notice: str | None          # e.g. the message was trimmed to fit the context window
    n_tokens: int               # tokens generated
    ttft_s: float               # seconds from the call to the first generated token
    tokens_per_s: float         # decoding speed after the first token
    model_id: str
    adapter_version: int | None
    # The chat messages ({"role", "content"}) the reply was generated from, after trimming: exactly
    # what was rendered for the model. The chat records them (storage.review.record_reply_prompt) so
    # that a teacher's approval snapshots the real prompt, not one rendered again later.
    messages: tuple[dict[str, str], ...] = ()
    guard: GuardResult | None = None     # set when the request carried an AnswerGuard
    maths: MathsCheck | None = None      # set when the maths engine checked the reply
    safeguarding: SafeguardingFlag | None = None   # set: the message was flagged; `text` is the help text


class TutorJob(Protocol):
    """Work other than a chat reply that runs on the thread that owns the model (a practice item,
    a verdict, an adapter swap, a side-by-side comparison). Its result goes back to whoever queued it."""

    def run_with_tutor(self, tutor: Tutor, settings: GenerationSettings, stop: threading.Event) -> object: ...
