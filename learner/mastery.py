"""How well a student knows a topic (Bayesian Knowledge Tracing) and when to review an item (FSRS).

Bayesian Knowledge Tracing (Corbett & Anderson, 1995) keeps one number per student and topic,
P(known): the probability that the student has mastered the skill. After each judged attempt:

    correct:    P(L | obs) = P(L)(1 - S) / (P(L)(1 - S) + (1 - P(L)) G)
    incorrect:  P(L | obs) = P(L) S       / (P(L) S       + (1 - P(L)) (1 - G))
    then learning during the attempt:  P(L)' = P(L | obs) + (1 - P(L | obs)) T

with S = p_slip (knows it but answers wrongly), G = p_guess (does not know it but answers
correctly) and T = p_transit (learns it from this opportunity).

"Partly correct" is soft evidence: the posterior is the mix of the two posteriors above weighted
by PARTLY_CREDIT (0.5), i.e. half a correct and half an incorrect observation, followed by the
same learning step. So a partly-correct answer always lands between a correct and a wrong one.

Spaced review uses FSRS through the `fsrs` package: every item the student has attempted gets a
`fsrs.Card`, stored as its JSON in SQLite; each attempt reviews it with a rating derived from the
verdict (correct → Good, partly → Hard, incorrect → Again) and stores the rescheduled card.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from fsrs import Card, Rating, Scheduler

# Verdicts as the checker gives them; the same strings as storage.practice.VERDICTS.
VERDICTS = ("correct", "partly", "incorrect")
PARTLY_CREDIT = 0.5
MASTERED = 0.95        # Corbett & Anderson's usual threshold for "mastered"


@dataclass(frozen=True, slots=True, kw_only=True)
class BktParams:
    """BKT parameters. Defaults follow the common starting values in the BKT literature, adjusted
    for open-answer questions (a lucky guess is rarer than on multiple choice):
    p_init 0.3 — most students start with some but not solid knowledge of a topic they ask about;
    p_transit 0.1 — one practice question teaches the skill to about one student in ten;
    p_slip 0.1 — a careless error from a student who knows it;
    p_guess 0.2 — a correct (or accepted) answer without the knowledge, e.g. by elimination."""

    p_init: float = 0.3
    p_transit: float = 0.1
    p_slip: float = 0.1
    p_guess: float = 0.2

    def __post_init__(self) -> None:
        for name in ("p_init", "p_transit", "p_slip", "p_guess"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability from 0 to 1 (got {value!r}).")
        # Beyond this the model is degenerate: a "correct" answer would lower P(known).
        if self.p_slip + self.p_guess >= 1.0:
            raise ValueError(f"p_slip + p_guess must be below 1 (got {self.p_slip} + {self.p_guess}).")


DEFAULT_BKT = BktParams()


def _posterior(p_known: float, correct: bool, params: BktParams) -> float:
    if correct:
        num = p_known * (1 - params.p_slip)
        den = num + (1 - p_known) * params.p_guess
    else:
        num = p_known * params.p_slip
        den = num + (1 - p_known) * (1 - params.p_guess)
    return num / den if den > 0 else p_known


def bkt_update(p_known: float | None, verdict: str, params: BktParams = DEFAULT_BKT) -> float:
    """P(known) after one judged attempt (`p_known` None = no attempt yet: params.p_init)."""
    if verdict not in VERDICTS:
        raise ValueError(f"Unknown verdict {verdict!r}: expected correct, partly or incorrect.")
    prior = params.p_init if p_known is None else min(1.0, max(0.0, float(p_known)))
    if verdict == "correct":
        posterior = _posterior(prior, True, params)
    elif verdict == "incorrect":
        posterior = _posterior(prior, False, params)
    else:
        posterior = (PARTLY_CREDIT * _posterior(prior, True, params)
                     + (1 - PARTLY_CREDIT) * _posterior(prior, False, params))
    return posterior + (1 - posterior) * params.p_transit


def difficulty_for(p_known: float | None) -> str:
    """The next item's difficulty: easy until the student shows some knowledge, hard near mastery."""
    p = DEFAULT_BKT.p_init if p_known is None else p_known
    if p < 0.4:
        return "easy"
    if p < 0.8:
        return "medium"
    return "hard"


# -- spaced review (FSRS) ------------------------------------------------------------------------

RATING_FOR_VERDICT = {"correct": Rating.Good, "partly": Rating.Hard, "incorrect": Rating.Again}


def make_scheduler(*, fuzz: bool = True) -> Scheduler:
    """FSRS with its published default weights and 90 % desired retention; fuzz spreads reviews
    so a batch of items learnt together do not all fall due on the same day (off in tests)."""
    return Scheduler(enable_fuzzing=fuzz)


def new_card(item_id: int, *, now: datetime | None = None) -> Card:
    # card_id = the item id: unique per item, and fsrs otherwise sleeps 1 ms to make ids unique.
    return Card(card_id=item_id, due=now or datetime.now(timezone.utc))


def card_from_json(card_json: str | None, item_id: int) -> Card:
    if not card_json:
        return new_card(item_id)
    return Card.from_json(card_json)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledCard:
    card_json: str
    due: str            # UTC ISO-8601 to the second: compares as text with storage.db.utcnow()


def iso_seconds(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def review(card_json: str | None, item_id: int, verdict: str, *, now: datetime | None = None,
           scheduler: Scheduler | None = None) -> ScheduledCard:
    """Review the item's card (a new one if it has none) with the verdict's rating."""
    if verdict not in RATING_FOR_VERDICT:
        raise ValueError(f"Unknown verdict {verdict!r}: expected correct, partly or incorrect.")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    card = card_from_json(card_json, item_id)
    card, _log = (scheduler or make_scheduler()).review_card(card, RATING_FOR_VERDICT[verdict], review_datetime=now)
    text = card.to_json()
    json.loads(text)  # fsrs's own format; a broken dump must never reach the database
    return ScheduledCard(card_json=text, due=iso_seconds(card.due))
