"""The gate: may this candidate be put in front of students? A pure verdict from measured figures.

Checks (thresholds from the Recipe; see docs/architecture.md "Adaptation"):
- heldout      held-out loss lower than the active adapter's and the base's (it learned, and
               generalised to exchanges it never saw);
- replay       replay loss at most 3 % above the active adapter's and 5 % above the base's (it did
               not forget how to tutor);
- forgetting   each earlier round's held-out slice at most 5 % worse than with the active adapter
               (or the base, when none is active);
- must_pass    every teacher-written must-pass prompt passes;
- bleeding     at most Recipe.bleeding_max_rate of the held-out answers borrow names or numbers
               from other approved examples (learner.adapt.bleeding);
- fairness     across the fairness probe's counterfactual variants (student name, gender, origin,
               dialect), no gap wider than the base model's by more than the Recipe's margins
               (learner.adapt.fairness).
A check that cannot be measured (no held-out examples yet, no must-pass prompts) is recorded as
skipped and does not block; every figure is kept in the verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learner.adapt.bleeding import bleeding_verdict
from learner.adapt.fairness import fairness_verdict, margins_of
from learner.adapt.recipe import Recipe


@dataclass(frozen=True, slots=True, kw_only=True)
class GateInputs:
    heldout: dict[str, float | None]            # {"candidate", "active", "base"} mean completion losses
    replay: dict[str, float | None]
    earlier_slices: dict[int, dict[str, float | None]] = field(default_factory=dict)  # version -> {"candidate", "reference"}
    must_pass: list[dict[str, Any]] = field(default_factory=list)                  # MustPassResult.to_dict()
    bleeding: dict[str, Any] | None = None                                         # BleedingReport.to_dict()
    fairness: dict[str, Any] | None = None            # {"base", "candidate"}: fairness.summarise(); None: not run


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    name: str
    passed: bool
    skipped: bool
    detail: str                  # one sentence a teacher can read
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "skipped": self.skipped, "detail": self.detail,
                "figures": self.figures}


@dataclass(frozen=True, slots=True, kw_only=True)
class GateVerdict:
    passed: bool
    checks: tuple[Check, ...]

    @property
    def reason(self) -> str:
        failed = [c.detail for c in self.checks if not c.passed]
        return " ".join(failed) if failed else "All checks passed."

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reason": self.reason, "checks": [c.to_dict() for c in self.checks]}


def _rise(value: float, reference: float) -> float:
    return (value - reference) / reference if reference else 0.0


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def judge(inputs: GateInputs, recipe: Recipe | None = None) -> GateVerdict:
    recipe = recipe or Recipe()
    checks = [_heldout(inputs), _replay(inputs, recipe), _forgetting(inputs, recipe), _must_pass(inputs)]
    checks.append(Check(name="bleeding", **bleeding_verdict(
        inputs.bleeding, recipe.bleeding_max_rate, augmented=recipe.augment and recipe.augment_paraphrases > 0)))
    checks.append(Check(name="fairness", **fairness_verdict(inputs.fairness, margins_of(recipe))))
    return GateVerdict(passed=all(c.passed for c in checks), checks=tuple(checks))


def _heldout(inputs: GateInputs) -> Check:
    cand, active, base = (inputs.heldout.get(k) for k in ("candidate", "active", "base"))
    figures = {"candidate": cand, "active": active, "base": base}
    if cand is None:
        return Check(name="heldout", passed=True, skipped=True, figures=figures,
                     detail="Held-out loss: skipped (no held-out examples yet; about 1 in 7 approved examples is held out).")
    problems = []
    if base is not None and not cand < base:
        problems.append(f"not lower than the base's {_fmt(base)}")
    if active is not None and not cand < active:
        problems.append(f"not lower than the active adapter's {_fmt(active)}")
    if problems:
        return Check(name="heldout", passed=False, skipped=False, figures=figures,
                     detail=f"Held-out loss {_fmt(cand)} is {' and '.join(problems)}: it did not learn beyond what is "
                            "already in use.")
    return Check(name="heldout", passed=True, skipped=False, figures=figures,
                 detail=f"Held-out loss {_fmt(cand)} is lower than the base's {_fmt(base)}"
                        + (f" and the active adapter's {_fmt(active)}." if active is not None else "."))


def _replay(inputs: GateInputs, recipe: Recipe) -> Check:
    cand, active, base = (inputs.replay.get(k) for k in ("candidate", "active", "base"))
    figures: dict[str, Any] = {"candidate": cand, "active": active, "base": base,
                               "max_rise_vs_active": recipe.replay_max_rise_vs_active,
                               "max_rise_vs_base": recipe.replay_max_rise_vs_base}
    if cand is None:
        return Check(name="replay", passed=True, skipped=True, figures=figures,
                     detail="Replay loss: skipped (no replay set).")
    problems = []
    if base is not None:
        figures["rise_vs_base"] = _rise(cand, base)
        if figures["rise_vs_base"] > recipe.replay_max_rise_vs_base:
            problems.append(f"{figures['rise_vs_base']:+.1%} against the base (limit "
                            f"{recipe.replay_max_rise_vs_base:+.0%})")
    if active is not None:
        figures["rise_vs_active"] = _rise(cand, active)
        if figures["rise_vs_active"] > recipe.replay_max_rise_vs_active:
            problems.append(f"{figures['rise_vs_active']:+.1%} against the active adapter (limit "
                            f"{recipe.replay_max_rise_vs_active:+.0%})")
    if problems:
        return Check(name="replay", passed=False, skipped=False, figures=figures,
                     detail=f"Replay loss {_fmt(cand)} rose {' and '.join(problems)}: it is forgetting general tutoring.")
    return Check(name="replay", passed=True, skipped=False, figures=figures,
                 detail=f"Replay loss {_fmt(cand)} is within limits (base {_fmt(base)}, active {_fmt(active)}).")


def _forgetting(inputs: GateInputs, recipe: Recipe) -> Check:
    slices: dict[str, Any] = {}
    worse = []
    for version, pair in sorted(inputs.earlier_slices.items()):
        cand, ref = pair.get("candidate"), pair.get("reference")
        entry: dict[str, Any] = {"candidate": cand, "reference": ref}
        if cand is not None and ref:
            entry["rise"] = _rise(cand, ref)
            if entry["rise"] > recipe.earlier_heldout_max_rise:
                worse.append(f"v{version}'s held-out slice {entry['rise']:+.1%}")
        slices[f"v{version}"] = entry
    figures = {"slices": slices, "max_rise": recipe.earlier_heldout_max_rise}
    if not slices:
        return Check(name="forgetting", passed=True, skipped=True, figures=figures,
                     detail="Earlier rounds: skipped (no earlier round with held-out examples).")
    if worse:
        return Check(name="forgetting", passed=False, skipped=False, figures=figures,
                     detail=f"Forgot earlier rounds: {', '.join(worse)} (limit "
                            f"{recipe.earlier_heldout_max_rise:+.0%}).")
    return Check(name="forgetting", passed=True, skipped=False, figures=figures,
                 detail=f"Earlier rounds' held-out slices within {recipe.earlier_heldout_max_rise:+.0%}.")


def _must_pass(inputs: GateInputs) -> Check:
    results = inputs.must_pass
    figures = {"results": results, "passed": sum(1 for r in results if r.get("passed")), "total": len(results)}
    if not results:
        return Check(name="must_pass", passed=True, skipped=True, figures=figures,
                     detail="Must-pass prompts: skipped (teachers have written none).")
    failed = [r for r in results if not r.get("passed")]
    if failed:
        names = "; ".join(f"\"{r['prompt'][:60]}\" ({', '.join(r.get('failures', []))})" for r in failed)
        return Check(name="must_pass", passed=False, skipped=False, figures=figures,
                     detail=f"{len(failed)} of {len(results)} must-pass prompts failed: {names}.")
    return Check(name="must_pass", passed=True, skipped=False, figures=figures,
                 detail=f"All {len(results)} must-pass prompts passed.")
