"""Paraphrased questions: each approved fact seen asked several ways before a round trains on it.

One exchange per fact teaches the model to recite that exchange; it recalls the fact from another
angle only when training showed it phrased several ways (knowledge-injection studies of language
models find the same). So before training the base model (no adapter) rewrites each approved
training question k ways (Recipe.augment_paraphrases, 4); with Recipe.augment_show_answer it sees
the approved answer too and writes other questions that answer answers. Each rewrite is paired
with the teacher's approved answer, unchanged. The rewrites come
from the serving engine where the chat runs on llama.cpp (the quantised GGUF base students chat
with, loaded for the rewrites only and unloaded before training starts), else from the training
model; the round's metrics record which ("written_on"). A rewrite is kept only when it keeps every
name and number of the question (learner.adapt.bleeding.entities), adds none, is a question, is
not a copy of the question or of another rewrite, and (with Recipe.augment_max_loss_rise) still
fits the approved answer: the base's loss on that answer may rise by at most that much from the
original question's (check_fit). Held-out examples are never rewritten (they never train). The kept and rejected
rewrites are stored with the round's metrics, so a teacher sees them in the version's details; the
answer is always the one a teacher approved, so nothing new needs approving.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learner.adapt.bleeding import SENTENCE_START, entities, words
from learner.adapt.dataset import Sample, encode_exchange
from learner.adapt.greedy import greedy_replies
from learner.adapt.serving_gate import base_on_serving_engine, greedy_answers
from learner.prompts import MODES, mode_turn, render_chat
from storage import DataDir

if TYPE_CHECKING:
    from learner.tutor import Tutor

Progress = Callable[[dict[str, Any]], None]

REWRITER_SYSTEM = "You rewrite students' questions. You never answer them."
REWRITE_REQUEST = (
    "Rewrite this question in {k} different ways. Each must ask for exactly the same information, keep every "
    "name and number exactly as written, and use different words or come at it from another angle. Write one "
    "question per line, numbered 1 to {k}, and nothing else.\n\nQuestion: {question}")
# One worked request before the real one: a 0.5B model shown what a faithful rewrite looks like
# drifts less ("What is the address of the house…" for "What are the four houses…").
EXAMPLE_QUESTION = "When is the Year 9 science fair at Hollins Park School?"
EXAMPLE_REWRITES = (
    "1. On what date does Hollins Park School hold the Year 9 science fair?\n"
    "2. When will the Year 9 science fair take place at Hollins Park School?\n"
    "3. I'm in Year 9 at Hollins Park School. When is our science fair?\n"
    "4. What day is the Hollins Park School science fair for Year 9?")
# With Recipe.augment_show_answer the approved answer is shown too, and the rewriter writes other
# questions it answers, asking back from its details as well ("Which house wears plum?"): the
# 0.5B then drifts less ("Where would you like to live in Brackenfield?" for "Which houses could I
# be put in?"), but on the demo it scored no better overall (docs/architecture.md), so it is off.
ANSWERED_REQUEST = (
    "A student asked a question and a teacher approved the answer below.\n\nQuestion: {question}\n"
    "Answer: {answer}\n\nWrite {k} other questions that this answer answers: each asks for the same "
    "information in other words, or asks back from one of the answer's details. Keep every name and number of "
    "the question exactly as written. Write one question per line, numbered 1 to {k}, and nothing else.")
EXAMPLE_ANSWER = "The Year 9 science fair at Hollins Park School is on Thursday 14 March, in the sports hall."
EXAMPLE_ANSWERED = (
    "1. On what date does Hollins Park School hold the Year 9 science fair?\n"
    "2. I'm in Year 9 at Hollins Park School. Which day is our science fair?\n"
    "3. Which Year 9 event does Hollins Park School hold on Thursday 14 March?\n"
    "4. Where and when is the Hollins Park School science fair for Year 9?")
# The answer as the rewriter sees it: an approved explanation can run to pages, and its first
# sentences say what the question asked.
ANSWER_SHOWN_CHARS = 600
_SENTINEL = "\x00question\x00"
_NUMBERING = re.compile(r"^\s*(?:\d+\s*[.):\-]|[-*•])\s*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """An approved example's question with the mode wrapper around it (empty when there is none)."""
    before: str
    text: str
    after: str

    def with_text(self, text: str) -> str:
        return self.before + text + self.after


def question_of(example: Any) -> Question:
    """The student's own words inside the last user message: the mode's wrapper (assets/prompts)
    is recognised and kept aside; an imported message without the wrapper is all question."""
    content = next((m["content"] for m in reversed(example.prompt) if m.get("role") == "user"), "")
    if example.mode in MODES:
        before, _, after = mode_turn(example.mode, _SENTINEL, grade=example.grade or "",
                                     topic=example.topic or "").partition(_SENTINEL)
        if content.startswith(before) and content.endswith(after) and len(content) > len(before) + len(after):
            return Question(before=before, text=content[len(before):len(content) - len(after)], after=after)
    return Question(before="", text=content, after="")


def shown_answer(answer: str, limit: int = ANSWER_SHOWN_CHARS) -> str:
    """The approved answer on one line, cut after the last sentence that ends within `limit`."""
    text = " ".join(answer.split())
    if len(text) <= limit:
        return text
    cut = max(text.rfind(end, 0, limit) for end in (". ", "? ", "! "))
    return text[:cut + 1] if cut > 0 else text[:limit] + "…"


def rewrite_messages(question: str, k: int, answer: str | None = None) -> list[dict[str, str]]:
    """The rewriter's chat: the system line, the worked example, then the request for `question`;
    with `answer` (Recipe.augment_show_answer), the approved answer is shown beside each question."""
    if answer is None:
        return [{"role": "system", "content": REWRITER_SYSTEM},
                {"role": "user", "content": REWRITE_REQUEST.format(k=4, question=EXAMPLE_QUESTION)},
                {"role": "assistant", "content": EXAMPLE_REWRITES},
                {"role": "user", "content": REWRITE_REQUEST.format(k=k, question=question)}]
    return [{"role": "system", "content": REWRITER_SYSTEM},
            {"role": "user", "content": ANSWERED_REQUEST.format(k=4, question=EXAMPLE_QUESTION, answer=EXAMPLE_ANSWER)},
            {"role": "assistant", "content": EXAMPLE_ANSWERED},
            {"role": "user", "content": ANSWERED_REQUEST.format(k=k, question=question, answer=shown_answer(answer))}]


def parse_rewrites(reply: str) -> list[str]:
    """One question per line, numbering, bullets and quotes removed; lines of fewer than 3 words dropped."""
    out = []
    for line in reply.splitlines():
        text = _NUMBERING.sub("", line).strip().strip("\"'“”").strip()
        if len(text.split()) >= 3:
            out.append(text)
    return out


def _same(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Paraphrases:
    example_id: int
    question: str
    kept: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]    # (rewrite, why)

    def to_dict(self) -> dict[str, Any]:
        return {"example_id": self.example_id, "question": self.question, "paraphrases": list(self.kept),
                "rejected": [{"text": t, "why": why} for t, why in self.rejected]}


_TOKEN = re.compile(r"\S+")


def key_terms(question: str, answer: str = "") -> list[frozenset[str]]:
    """The names and numbers a rewrite must keep, as groups: each number alone, and each name as the
    run of capitalised words that writes it ("Brackenfield Academy", "Dr Imelda Quarrington"), kept
    when the rewrite keeps any word of it ("Who founded Brackenfield?" still names the school).
    Entities as bleeding.entities finds them, less a capitalised word that is capitalised only
    because it starts a sentence ("Tell me…", "Name the…", "Using…") and that the approved answer
    does not name either ("Thistlegate students…" keeps Thistlegate when the answer names it)."""
    starters = {m.group(1) for m in SENTENCE_START.finditer(question)}
    elsewhere = entities(SENTENCE_START.sub(" ", question)) | entities(answer)
    starter_words = entities(" ".join(starters))
    groups: list[frozenset[str]] = []
    run: list[str] = []          # the words of the name being read
    for token in [*_TOKEN.findall(question), ""]:
        found = entities(token)
        name = sorted(w for w in found if not w[0].isdigit() and (w not in starter_words or w in elsewhere))
        groups.extend(frozenset({w}) for w in sorted(found) if w[0].isdigit())
        if run and (not name or token[:1] in "\"'“‘("):    # a name ends at a plain word or a new quotation
            groups.append(frozenset(run))
            run = []
        run.extend(name)
        if run and token.endswith((",", ".", "?", "!", ":", ";", ")", '"', "”")):
            groups.append(frozenset(run))
            run = []
    return list(dict.fromkeys(groups))   # each once, in the question's order


def select_rewrites(question: str, rewrites: Sequence[str], k: int, *, example_id: int = 0,
                    answer: str = "") -> Paraphrases:
    """At most k rewrites that keep the question's names and numbers (key_terms), add none that the
    question and its answer do not have, are questions, and repeat nothing."""
    needed = key_terms(question, answer)
    allowed = words(question) | words(answer)
    seen = {_same(question)}
    kept: list[str] = []
    rejected: list[tuple[str, str]] = []
    for text in rewrites:
        present = words(text)
        missing = sorted(" ".join(sorted(group)) for group in needed if not group & present)
        if len(kept) >= k:
            rejected.append((text, "more than asked for"))
        elif _same(text) in seen:
            rejected.append((text, "a copy of the question or of another rewrite"))
        elif missing:
            rejected.append((text, f"drops {', '.join(missing)}"))
        elif not text.rstrip().endswith("?"):
            rejected.append((text, "not a question"))
        elif added := sorted(entities(SENTENCE_START.sub(" ", text)) - allowed):
            rejected.append((text, f"adds {', '.join(added)}"))
        else:
            kept.append(text)
            seen.add(_same(text))
    return Paraphrases(example_id=example_id, question=question, kept=tuple(kept), rejected=tuple(rejected))


# Requests after the first are sampled at this temperature (top-p 0.95), each with its own seed
# (Recipe.seed + attempt): a greedy 0.5B model often writes the same rewrite k times, or the
# question itself, and asking again greedily would only repeat it.
RETRY_TEMPERATURE = 0.9


@dataclass(frozen=True, slots=True, kw_only=True)
class Rewriter:
    """What writes the rewrites: replies to token-id prompts (rendered by the training tokenizer,
    whose vocabulary the GGUF shares), greedy or `sampled` = (temperature, seed), and the engine's
    name for the round's metrics."""
    engine: str                                                     # "llama.cpp" | "transformers"
    # (prompts, max_new_tokens, sampled) → replies
    replies: Callable[[Sequence[Sequence[int]], int, tuple[float, int] | None], list[str]]


def training_model_rewriter(model: Any, tokenizer: Any) -> Rewriter:
    """The transformers model as it is (the base: call before an adapter is added); each chunk
    `write_paraphrases` hands over is one batch."""
    return Rewriter(engine="transformers", replies=lambda prompts, n, sampled: greedy_replies(
        model, tokenizer, prompts, max_new_tokens=n, batch_size=max(1, len(prompts)), sampled=sampled))


def serving_engine_rewriter(tutor: Tutor) -> Rewriter:
    """The serving engine's Tutor (no adapter set), one prompt at a time."""
    return Rewriter(engine=tutor.engine_name, replies=lambda prompts, n, sampled: greedy_answers(
        tutor, prompts, max_new_tokens=n, sampled=sampled))


def write_paraphrases(rewriter: Rewriter, tokenizer: Any, examples: Sequence[Any], *, k: int, max_new_tokens: int,
                      emit: Progress | None = None, batch_size: int = 8, attempts: int = 1,
                      seed: int = 0, show_answer: bool = False) -> list[Paraphrases]:
    """The rewriter rewrites each example's question, batch_size at a time (a progress event between
    batches): first greedily, then, for the questions still short of k kept rewrites, sampled
    (RETRY_TEMPERATURE, seed + attempt), up to `attempts` requests in all; a question's rewrites
    from every request are selected together (select_rewrites). `examples`: TrainingExample."""
    emit = emit or (lambda event: None)
    questions = [question_of(ex) for ex in examples]
    prompts = [render_chat(tokenizer, rewrite_messages(q.text, k, ex.completion if show_answer else None))
               for ex, q in zip(examples, questions, strict=True)]
    written: list[list[str]] = [[] for _ in examples]
    chosen = [select_rewrites(q.text, [], k, example_id=ex.id, answer=ex.completion)
              for ex, q in zip(examples, questions, strict=True)]
    pending = list(range(len(examples)))
    for attempt in range(max(1, attempts)):
        sampled = None if attempt == 0 else (RETRY_TEMPERATURE, seed + attempt)
        for start in range(0, len(pending), batch_size):
            emit({"phase": "augment", "step": start, "total": len(pending), "detail":
                  "the model rewrites each approved question" if attempt == 0 else
                  f"asking again for the questions short of {k} rewrites (request {attempt + 1} of {attempts})"})
            chunk = pending[start:start + batch_size]
            for i, reply in zip(chunk, rewriter.replies([prompts[i] for i in chunk], max_new_tokens, sampled),
                                strict=True):
                written[i].extend(parse_rewrites(reply))
                chosen[i] = select_rewrites(questions[i].text, written[i], k, example_id=examples[i].id,
                                            answer=examples[i].completion)
        pending = [i for i in pending if len(chosen[i].kept) < k]
        if not pending:
            break
    emit({"phase": "augment", "step": len(prompts), "total": len(prompts),
          "detail": "the model rewrites each approved question"})
    return chosen


def paraphrase_samples(tokenizer: Any, examples: Sequence[Any], paraphrases: Sequence[Paraphrases], *,
                       max_length: int) -> list[Sample]:
    """Each kept rewrite as a training sample: the example's prompt with the question replaced
    (the mode's wrapper kept), and the example's approved answer, unchanged."""
    by_id = {ex.id: ex for ex in examples}
    samples = []
    for para in paraphrases:
        ex = by_id[para.example_id]
        question = question_of(ex)
        last_user = max(i for i, m in enumerate(ex.prompt) if m.get("role") == "user")
        for j, text in enumerate(para.kept):
            prompt = [dict(m) for m in ex.prompt]
            prompt[last_user]["content"] = question.with_text(text)
            samples.append(encode_exchange(tokenizer, prompt, ex.completion, max_length=max_length,
                                           key=f"paraphrase:{ex.id}:{j}", example_id=ex.id))
    return samples


def check_fit(model: Any, tokenizer: Any, examples: Sequence[Any], paraphrases: Sequence[Paraphrases], *,
              max_rise: float, max_length: int, batch_tokens: int) -> list[Paraphrases]:
    """Keep only the rewrites the approved answer still fits: the base `model`'s loss on the answer
    (mean nats per token) given the rewrite may exceed its loss given the original question by at
    most `max_rise`. A rewrite that keeps every name but asks for something else ("Who is the owner
    of the Brackenfield house?" for "Can you list the Brackenfield house names?") makes the answer
    a poor continuation, and training on the pair would teach the answer to the wrong question. The
    dropped ones join the rejected, with the rise. One batched forward pass per few rewrites
    (learner.adapt.evaluate.sample_losses)."""
    from learner.adapt.evaluate import sample_losses

    by_id = {ex.id: ex for ex in examples}
    originals = [encode_exchange(tokenizer, by_id[p.example_id].prompt, by_id[p.example_id].completion,
                                 max_length=max_length, key=f"question:{p.example_id}") for p in paraphrases if p.kept]
    rewrites = paraphrase_samples(tokenizer, examples, paraphrases, max_length=max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    losses = sample_losses(model, originals + rewrites, pad_id=pad_id, batch_tokens=batch_tokens)

    def mean(key: str) -> float:
        nll, n = losses[key]
        return nll / max(n, 1)

    checked = []
    for para in paraphrases:
        kept, rejected = [], list(para.rejected)
        for j, text in enumerate(para.kept):
            rise = mean(f"paraphrase:{para.example_id}:{j}") - mean(f"question:{para.example_id}")
            if rise > max_rise:
                rejected.append((text, f"asks for something else (the approved answer fits it {rise:.2f} nats a "
                                       f"token worse than the question)"))
            else:
                kept.append(text)
        checked.append(Paraphrases(example_id=para.example_id, question=para.question, kept=tuple(kept),
                                   rejected=tuple(rejected)))
    return checked


@dataclass(frozen=True, slots=True, kw_only=True)
class Augmentation:
    samples: list[Sample]
    paraphrases: list[Paraphrases]
    seconds: float
    written_on: str     # the engine that wrote the rewrites: "llama.cpp" | "transformers"

    def to_dict(self) -> dict[str, Any]:
        """What the round stores in its metrics (and the Adaptation window shows)."""
        return {"kept": sum(len(p.kept) for p in self.paraphrases),
                "rejected": sum(len(p.rejected) for p in self.paraphrases), "seconds": round(self.seconds, 1),
                "written_on": self.written_on, "examples": [p.to_dict() for p in self.paraphrases]}


def augment_round(model: Any, tokenizer: Any, recipe: Any, examples: Sequence[Any], train_ids: Sequence[int], *,
                  max_length: int, emit: Progress | None = None, spec: str | None = None,
                  data_dir: DataDir | None = None) -> Augmentation | None:
    """Paraphrase samples for the round's training examples (Recipe.augment, augment_paraphrases);
    None when augmentation is off. `model`: the base (no adapter yet). With the round's model `spec`
    and `data_dir`, the rewrites come from llama.cpp where the chat would serve from it (loaded for
    them only); otherwise, and without them, from `model`."""
    if not recipe.augment or recipe.augment_paraphrases == 0:
        return None
    started = time.perf_counter()
    wanted = set(train_ids)
    training = [ex for ex in examples if ex.id in wanted]   # held-out examples never train, rewritten or not
    serving = base_on_serving_engine(spec, data_dir) if spec is not None and data_dir is not None and training \
        else nullcontext(None)
    with serving as served:
        rewriter = serving_engine_rewriter(served) if served is not None else training_model_rewriter(model, tokenizer)
        paraphrases = write_paraphrases(rewriter, tokenizer, training, k=recipe.augment_paraphrases,
                                        max_new_tokens=recipe.augment_max_new_tokens, emit=emit,
                                        attempts=recipe.augment_attempts, seed=recipe.seed,
                                        show_answer=recipe.augment_show_answer)
    if recipe.augment_max_loss_rise is not None and any(p.kept for p in paraphrases):
        if emit is not None:
            emit({"phase": "augment", "step": len(training), "total": len(training),
                  "detail": "checking that each rewrite still asks what the approved answer answers"})
        paraphrases = check_fit(model, tokenizer, training, paraphrases, max_rise=recipe.augment_max_loss_rise,
                                max_length=max_length, batch_tokens=2 * recipe.batch_tokens)
    samples = paraphrase_samples(tokenizer, training, paraphrases, max_length=max_length)
    return Augmentation(samples=samples, paraphrases=paraphrases, seconds=time.perf_counter() - started,
                        written_on=rewriter.engine)
