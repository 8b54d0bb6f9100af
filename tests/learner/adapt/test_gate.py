"""Gate verdicts from constructed figures: a passing candidate, and each way of failing."""
from __future__ import annotations

import pytest

from learner.adapt.gate import GateInputs, judge
from learner.adapt.recipe import Recipe

MUST_OK = [{"id": 1, "prompt": "Who is the head?", "passed": True, "answer": "Dr Quarrington", "failures": []}]


def good(**changes) -> GateInputs:
    values = dict(heldout={"candidate": 1.20, "active": 1.50, "base": 2.00},
                  replay={"candidate": 1.01, "active": 1.00, "base": 0.99},
                  earlier_slices={1: {"candidate": 1.10, "reference": 1.08}}, must_pass=MUST_OK)
    values.update(changes)
    return GateInputs(**values)


def test_a_candidate_that_learned_without_forgetting_passes_with_every_figure_kept() -> None:
    verdict = judge(good())
    assert verdict.passed, verdict.reason
    assert verdict.reason == "All checks passed."
    as_dict = verdict.to_dict()
    checks = {c["name"]: c for c in as_dict["checks"]}
    assert {"heldout", "replay", "forgetting", "must_pass", "bleeding"} <= set(checks)
    assert checks["heldout"]["figures"] == {"candidate": 1.20, "active": 1.50, "base": 2.00}
    assert checks["replay"]["figures"]["rise_vs_active"] == pytest.approx(0.01)
    assert checks["forgetting"]["figures"]["slices"]["v1"]["rise"] == pytest.approx(0.02 / 1.08)


@pytest.mark.parametrize(("changes", "failing", "words"), [
    ({"heldout": {"candidate": 1.60, "active": 1.50, "base": 2.00}}, "heldout", "active adapter"),
    ({"heldout": {"candidate": 2.10, "active": None, "base": 2.00}}, "heldout", "base"),
    ({"replay": {"candidate": 1.04, "active": 1.00, "base": 1.00}}, "replay", "+4.0% against the active"),
    ({"replay": {"candidate": 1.06, "active": None, "base": 1.00}}, "replay", "+6.0% against the base"),
    ({"earlier_slices": {2: {"candidate": 1.20, "reference": 1.10}}}, "forgetting", "v2's held-out slice"),
    ({"must_pass": [{"id": 1, "prompt": "Who is the head?", "passed": False, "answer": "I don't know",
                     "failures": ["missing /Quarrington/"]}]}, "must_pass", "missing /Quarrington/"),
])
def test_a_failing_candidate_is_refused_and_the_reason_names_the_check(changes, failing, words) -> None:
    verdict = judge(good(**changes))
    assert not verdict.passed
    failed = [c.name for c in verdict.checks if not c.passed]
    assert failed == [failing]
    assert words in verdict.reason


def test_the_thresholds_come_from_the_recipe() -> None:
    inputs = good(replay={"candidate": 1.04, "active": 1.00, "base": 1.00})
    assert not judge(inputs).passed
    assert judge(inputs, Recipe(replay_max_rise_vs_active=0.05)).passed


def test_checks_without_data_are_skipped_not_failed() -> None:
    verdict = judge(GateInputs(heldout={"candidate": None, "active": None, "base": None},
                               replay={"candidate": 1.0, "active": None, "base": 1.0}))
    assert verdict.passed
    skipped = {c.name for c in verdict.checks if c.skipped}
    assert {"heldout", "forgetting", "must_pass", "bleeding"} <= skipped and "replay" not in skipped
