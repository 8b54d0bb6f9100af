"""BKT against hand-computed values; FSRS scheduling round-trips through the database."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from fsrs import Card, State

from learner import mastery
from learner.mastery import BktParams, bkt_update
from learner.practice import Judgement, store_attempt
from storage import Database, ValidationError
from storage import practice


# Hand computation with the defaults p_init .3, p_transit .1, p_slip .1, p_guess .2:
#   correct:   .3*.9 = .27; .27 + .7*.2 = .41; .27/.41 = .658537; + (1-.658537)*.1 = .692683
#   incorrect: .3*.1 = .03; .03 + .7*.8 = .59; .03/.59 = .050847; + .949153*.1 = .145763
#   partly:    .5*.658537 + .5*.050847 = .354692; + .645308*.1 = .419223
@pytest.mark.parametrize("verdict,expected", [("correct", 0.692683), ("incorrect", 0.145763), ("partly", 0.419223)])
def test_bkt_first_attempt_matches_hand_computation(verdict, expected):
    assert bkt_update(None, verdict) == pytest.approx(expected, abs=1e-6)
    assert bkt_update(0.3, verdict) == pytest.approx(expected, abs=1e-6)


def test_bkt_sequence_and_other_parameters():
    # p=.8, slip .05, guess .25, transit .2, correct: .76/(.76+.05) = .938272; + .061728*.2 = .950617
    params = BktParams(p_init=0.5, p_transit=0.2, p_slip=0.05, p_guess=0.25)
    assert bkt_update(0.8, "correct", params) == pytest.approx(0.950617, abs=1e-6)
    # incorrect from .950617: .047531/(.047531 + .049383*.75 = .037037) = .562042; + .437958*.2 = .649634
    assert bkt_update(0.950617, "incorrect", params) == pytest.approx(0.649634, abs=1e-5)


def test_partly_lies_between_and_mastery_grows_with_correct_answers():
    p = None
    for _ in range(6):
        p = bkt_update(p, "correct")
    assert p > mastery.MASTERED
    for prior in (0.1, 0.5, 0.9):
        assert bkt_update(prior, "incorrect") < bkt_update(prior, "partly") < bkt_update(prior, "correct")


@pytest.mark.parametrize("field,value", [("p_slip", 1.5), ("p_guess", -0.1), ("p_init", "x")])
def test_bkt_params_validated_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        BktParams(**{field: value})


def test_slip_plus_guess_must_stay_below_one():
    with pytest.raises(ValueError, match="p_slip \\+ p_guess"):
        BktParams(p_slip=0.5, p_guess=0.5)


def test_unknown_verdict_refused():
    with pytest.raises(ValueError, match="Unknown verdict"):
        bkt_update(0.3, "great")


def test_difficulty_follows_mastery():
    assert [mastery.difficulty_for(p) for p in (None, 0.39, 0.5, 0.85)] == ["easy", "easy", "medium", "hard"]


def test_fsrs_round_trip_through_the_database(db: Database, student):
    item = practice.add_item(db, student.id, topic="Fractions", question="What is 1/4 + 2/4?", answer_key="3/4")
    scheduler = mastery.make_scheduler(fuzz=False)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

    first = store_attempt(db, item, student.id, answer="3/4",
                          judgement=Judgement(verdict="correct", feedback="Right.", by_model=False),
                          now=t0, scheduler=scheduler)
    stored = practice.get_card(db, item.id)
    assert stored is not None and stored.due == first.due
    card = Card.from_json(stored.card_json)          # what fsrs wrote is what fsrs reads back
    assert card.card_id == item.id and card.last_review == t0 and card.due > t0
    assert json.loads(stored.card_json)["due"].startswith(card.due.isoformat()[:19])

    # not due yet just after the review; due once its time has come
    assert practice.due_items(db, student.id, now=mastery.iso_seconds(t0)) == []
    due_at = card.due + timedelta(seconds=1)
    assert [d.item.id for d in practice.due_items(db, student.id, now=mastery.iso_seconds(due_at))] == [item.id]

    # reload, review again when due: the card moves on from the stored state, the due date moves later
    second = store_attempt(db, item, student.id, answer="3/4",
                           judgement=Judgement(verdict="correct", feedback="Right again.", by_model=False),
                           now=due_at, scheduler=scheduler)
    reloaded = Card.from_json(practice.get_card(db, item.id).card_json)
    assert reloaded.last_review == due_at
    assert second.due > first.due
    assert reloaded.due - due_at > card.due - t0        # a second success earns a longer interval
    assert reloaded.state in (State.Learning, State.Review)

    # a wrong answer brings it back soon (relearning), earlier than the success would have
    third = store_attempt(db, item, student.id, answer="5/8",
                          judgement=Judgement(verdict="incorrect", feedback="5/8 is not it.", by_model=True),
                          now=reloaded.due, scheduler=scheduler)
    after_lapse = Card.from_json(practice.get_card(db, item.id).card_json)
    assert after_lapse.due - reloaded.due <= timedelta(minutes=10)
    assert third.p_known_after < second.p_known_after
    assert [a.verdict for a in practice.list_attempts(db, item.id)] == ["correct", "correct", "incorrect"]


def test_mastery_and_history_stored_with_each_attempt(db: Database, student):
    item = practice.add_item(db, student.id, topic="Fractions", question="What is 1/4 + 2/4?", answer_key="3/4")
    results = [store_attempt(db, item, student.id, answer=a, judgement=Judgement(verdict=v, feedback="f", by_model=True))
               for a, v in (("3/8", "incorrect"), ("2/4 + 1/4 = 3/4?", "partly"), ("3/4", "correct"))]
    expected, p = [], None
    for v in ("incorrect", "partly", "correct"):
        p = bkt_update(p, v)
        expected.append(p)
    assert [r.p_known_after for r in results] == pytest.approx(expected)
    assert [pt.p_known for pt in practice.mastery_history(db, student.id)] == pytest.approx(expected)
    row = practice.get_mastery(db, student.id, "fractions")           # topics match case-insensitively
    assert row is not None and row.n_attempts == 3 and row.p_known == pytest.approx(expected[-1])


def test_a_failed_write_leaves_nothing_half_stored(db: Database, student):
    item = practice.add_item(db, student.id, topic="Fractions", question="What is 1/4 + 2/4?", answer_key="3/4")
    with pytest.raises(ValidationError):
        practice.record_attempt(db, item.id, student.id, answer="3/4", verdict="correct", feedback="",
                             p_known_before=0.3, p_known_after=0.7, card_json="{not json", due="2026-01-01")
    assert practice.list_attempts(db, item.id) == [] and practice.get_mastery(db, student.id, "Fractions") is None
    # a database-level failure inside the transaction (card JSON without due passes our check but the
    # item was deleted meanwhile) rolls the attempt back too
    db.conn.execute("DELETE FROM practice_items WHERE id = ?", (item.id,))
    with pytest.raises(Exception):
        practice.record_attempt(db, item.id, student.id, answer="3/4", verdict="correct", feedback="",
                             p_known_before=0.3, p_known_after=0.7, card_json='{"due": "x"}', due="x")
    assert db.query("SELECT count(*) AS n FROM practice_attempts")[0]["n"] == 0
    assert db.query("SELECT count(*) AS n FROM mastery_history")[0]["n"] == 0
