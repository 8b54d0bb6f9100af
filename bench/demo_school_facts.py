"""Acceptance demonstration: the tutor learns a made-up school's facts from approved
exchanges, and answers differently-worded held-out questions it could not answer before, while
its general tutoring (the replay loss) stays put.

    1. a fresh data folder; a teacher; the training exchanges of bench/data/school_facts.json
       (38 about "Brackenfield Academy", every fact invented) approved through storage, in the
       exact prompt shape the tutor uses (system prompt + the mode's wrapper);
    2. the base model answers the 12 held-out questions (worded differently from every training
       exchange) and 12 more asking the same facts from another angle ("angled"), greedily; an
       answer is correct when it contains the expected fact;
    3. one adaptation round in a real subprocess: `python -m learner.adapt --json` (train, gate,
       register v1), its progress lines copied to stderr;
    4. the teacher promotes v1; the tutor hot-swaps it (Tutor.set_adapter) and answers again;
    5. one JSON object on stdout: per question base vs adapted correctness, the replay loss of base
       and adapter (measured by the round on replay exchanges it did not train on) and its rise, the
       bleeding rate of base and adapted answers (an answer that uses a name or number of another
       fact's training exchanges and none of its own: learner.adapt.bleeding), the round's time,
       peak RSS and paraphrases.

    .venv/bin/python bench/demo_school_facts.py --model /path/to/prepared/model-folder
    .venv/bin/python bench/demo_school_facts.py            # the embedded model (prepared cache)
    .venv/bin/python bench/demo_school_facts.py --recipe defaults   # the product's default recipe
Takes about 30 minutes on a 2-core CPU (most of it training); minutes on a GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FACTS = ROOT / "bench" / "data" / "school_facts.json"

# Tuned to learn a dozen facts in one short round on a 2-core CPU: the facts share their prompt
# prefix, so up to 8 pack into one ~430-token sequence; a high LoRA learning rate, eight passes.
# 24 replay exchanges train as a distillation anchor (the adapter must keep the base model's
# predictions on them: Recipe.replay_objective "distill"), and the replay loss is measured on 32
# other replay exchanges (an honest forgetting figure).
DEMO_RECIPE = {"rank": 16, "alpha": 32, "dropout": 0.05, "learning_rate": 8e-4, "epochs": 8,
               "batch_tokens": 640, "max_batch_examples": 8, "heldout_fraction": 0.1, "replay_train_limit": 24,
               "replay_eval_limit": 32, "replay_objective": "distill", "replay_weight": 1.0,
               "must_pass_max_new_tokens": 24, "warmup_ratio": 0.05}
# `--recipe defaults`: what a school gets without tuning (learner.adapt.recipe.Recipe's defaults), with
# only the split and the replay measurement kept as in the demo recipe so the figures compare.
DEFAULTS_RECIPE = {key: DEMO_RECIPE[key] for key in ("heldout_fraction", "replay_eval_limit", "must_pass_max_new_tokens")}
RECIPES = {"demo": DEMO_RECIPE, "defaults": DEFAULTS_RECIPE}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def answers(tutor, questions: list[dict], *, grade: str, max_new_tokens: int) -> list[str]:
    from learner.settings import GenerationSettings
    from learner.types import TutorRequest

    settings = GenerationSettings(temperature=0.0, max_new_tokens=max_new_tokens)
    out = []
    for q in questions:
        reply = tutor.reply(TutorRequest(user_text=q["question"], mode="explain", grade=grade,
                                         topic="School life"), settings)
        out.append(reply.text)
        log(f"  v{tutor.adapter_version or 0} Q: {q['question']}\n     A: {reply.text[:160]!r}")
    return out


def bleeding(facts: dict, questions: list[dict], answers_given: list[str]) -> dict:
    """learner.adapt.bleeding over the demo's answers: a fact's own texts are its training exchanges."""
    from learner.adapt.bleeding import Probe, find_bleeding

    texts = {f"train:{i}": f"{t['user']}\n{t['assistant']}" for i, t in enumerate(facts["train"])}
    own = {fact: frozenset(f"train:{i}" for i, t in enumerate(facts["train"]) if t["fact_id"] == fact)
           for fact in {q["fact_id"] for q in questions}}
    probes = [Probe(key=f"{q['fact_id']}: {q['question']}", answer=a, own=own[q["fact_id"]], own_text=q["question"])
              for q, a in zip(questions, answers_given, strict=True)]
    return find_bleeding(probes, texts).to_dict()


def correct(answer: str, expect_any: list[str]) -> bool:
    text = answer.lower()
    return any(e.lower() in text for e in expect_any)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model spec (default: the embedded model)")
    parser.add_argument("--data-dir", help="a fresh data folder (default: a temporary one)")
    parser.add_argument("--grade", default="8")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="demo",
                        help="demo: tuned for this demonstration (eight passes); defaults: the product's defaults")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a recipe field (repeatable)")
    parser.add_argument("--reuse-base-answers", type=Path, metavar="FILE",
                        help="base_answers.json from an earlier run with the same model (skips regenerating them)")
    args = parser.parse_args()

    from learner.loading import load_model
    from learner.prompts import mode_turn, system_prompt
    from learner.sources import prepare_model
    from learner.tutor import Tutor
    from storage import DataDir, Database, auth, exchange
    from storage import adapters

    facts = json.loads(FACTS.read_text(encoding="utf-8"))
    data_dir = DataDir(Path(args.data_dir or tempfile.mkdtemp(prefix="tutorloop-demo-"))).ensure()
    log(f"data folder {data_dir.root}")
    db = Database(data_dir.db_path)
    password = "demo-teacher-password"
    teacher = auth.create_teacher(db, None, "Demo Teacher", password)

    # 1. approve the training exchanges (an approved import, recorded as this teacher's approval)
    lines = []
    for number, item in enumerate(facts["train"], start=1):
        topic = item.get("topic", "")
        lines.append(json.dumps({"messages": [
            {"role": "system", "content": system_prompt(grade=args.grade, topic=topic)},
            {"role": "user", "content": mode_turn(item["mode"], item["user"], grade=args.grade, topic=topic)},
            {"role": "assistant", "content": item["assistant"]}],
            # A fixed split id per exchange (as an export writes it): the same ones are held out every run.
            "metadata": {"mode": item["mode"], "topic": topic, "grade": args.grade,
                         "uid": f"brackenfield-train-{number:02d}"}}))
    src = data_dir.root / "school_facts_train.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exchange.import_file(db, teacher, src, as_status="approved")
    n_approved = db.query("SELECT COUNT(*) AS n FROM training_examples WHERE status = 'approved'")[0]["n"]
    adapters.add_must_pass(db, teacher, "Who is the head teacher at Brackenfield Academy?", must_match=["Quarrington"])
    log(f"approved {n_approved} exchanges; 1 must-pass prompt")

    # 2. the base model's answers
    prepared = prepare_model(args.model, data_dir)
    loaded = load_model(prepared)  # bf16 on CPU: the speed a student gets
    tutor = Tutor(loaded)
    # The 12 held-out questions (one per fact, worded unlike any training exchange) and 12 more that
    # come at the same facts from another angle: every fact is asked at least two ways.
    heldout = facts["heldout"] + facts.get("angled", [])
    n_first = len(facts["heldout"])
    t0 = time.perf_counter()
    if args.reuse_base_answers:
        saved = json.loads(args.reuse_base_answers.read_text(encoding="utf-8"))
        if [q["question"] for q in heldout] != saved["questions"] or saved["model"] != prepared.model_id:
            raise SystemExit("--reuse-base-answers: that file answers other questions or another model")
        base_answers = saved["answers"]
        log(f"reusing the base model's answers from {args.reuse_base_answers}")
    else:
        log("base model answering the held-out questions")
        base_answers = answers(tutor, heldout, grade=args.grade, max_new_tokens=args.max_new_tokens)
    (data_dir.root / "base_answers.json").write_text(json.dumps(
        {"model": prepared.model_id, "questions": [q["question"] for q in heldout], "answers": base_answers}),
        encoding="utf-8")
    base_answer_s = time.perf_counter() - t0

    # 3. one round, in the subprocess the app and the schedulers use
    cmd = [sys.executable, "-m", "learner.adapt", "--json", "--trigger", "manual", "--model", args.model,
           "--no-nice"]
    for key, value in RECIPES[args.recipe].items():
        cmd += ["--set", f"{key}={json.dumps(value)}"]
    for item in args.set:
        cmd += ["--set", item]
    log("training: " + " ".join(cmd))
    env = dict(os.environ, TUTORLOOP_HOME=str(data_dir.root), PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    done = None
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line.rstrip(), file=sys.stderr, flush=True)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("phase") == "done":
                done = event
    round_s = time.perf_counter() - t0
    if proc.returncode != 0 or done is None:
        print(json.dumps({"error": f"the round failed (exit {proc.returncode}); see the log above"}))
        return 1
    adapter = adapters.get_adapter(db, done["version"])

    # 4. promote and hot-swap, then ask again
    promoted = True
    try:
        adapters.promote(db, teacher, adapter.version)
    except adapters.GateNotPassed as exc:
        promoted = False
        log(f"not promoted: {exc}")
    tutor.set_adapter(Path(adapter.path), adapter.version)
    log(f"adapter v{adapter.version} answering the held-out questions")
    adapted_answers = answers(tutor, heldout, grade=args.grade, max_new_tokens=args.max_new_tokens)

    replay = adapter.metrics.get("replay_loss", {})
    heldout_loss = adapter.metrics.get("heldout_loss", {})
    rise = (replay["candidate"] - replay["base"]) / replay["base"] if replay.get("base") else None
    per_question = [{"fact": q["fact_id"], "question": q["question"], "expect_any": q["expect_any"],
                     "base_correct": correct(b, q["expect_any"]), "adapted_correct": correct(a, q["expect_any"]),
                     "base_answer": b, "adapted_answer": a}
                    for q, b, a in zip(heldout, base_answers, adapted_answers, strict=True)]
    first, angled = per_question[:n_first], per_question[n_first:]
    result = {
        "model": prepared.model_id, "approved_examples": n_approved, "trained_examples": adapter.n_examples,
        "heldout_split_examples": adapter.n_heldout, "replay_trained": adapter.n_replay,
        "replay_measured": adapter.metrics.get("n_replay_eval"), "version": adapter.version,
        "gate_passed": adapter.gate_passed, "gate_reason": adapter.gate_reason, "promoted": promoted,
        "base_correct": sum(p["base_correct"] for p in first),
        "adapted_correct": sum(p["adapted_correct"] for p in first), "questions": len(first),
        "angled_base_correct": sum(p["base_correct"] for p in angled),
        "angled_adapted_correct": sum(p["adapted_correct"] for p in angled), "angled_questions": len(angled),
        "replay_loss_base": replay.get("base"), "replay_loss_adapted": replay.get("candidate"),
        "replay_loss_rise": rise, "replay_rise_below_3pct": rise is not None and rise < 0.03,
        "heldout_split_loss_base": heldout_loss.get("base"), "heldout_split_loss_adapted": heldout_loss.get("candidate"),
        "bleeding_base": bleeding(facts, heldout, base_answers),
        "bleeding_adapted": bleeding(facts, heldout, adapted_answers),
        "round_peak_rss_mb": adapter.metrics.get("peak_rss_mb"), "gate_bleeding": adapter.metrics.get("bleeding"),
        "paraphrases": adapter.metrics.get("augmentation"),
        "train": adapter.metrics.get("train"), "round_seconds": round(round_s, 1),
        "base_answer_seconds": round(base_answer_s, 1), "recipe_preset": args.recipe, "recipe": adapter.recipe,
        "per_question": per_question,
    }
    log(f"correct: base {result['base_correct']}/{n_first}, adapted {result['adapted_correct']}/{n_first}; "
        f"other angle: base {result['angled_base_correct']}/{len(angled)}, adapted {result['angled_adapted_correct']}; "
        f"bleeding {result['bleeding_adapted']['rate']}; replay rise {rise}; round {round_s:.0f} s, "
        f"peak RSS {result['round_peak_rss_mb']} MB")
    print(json.dumps(result, indent=2))
    db.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
