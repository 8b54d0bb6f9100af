"""The training recipe: every setting of a round in one validated dataclass, saved as sorted JSON
beside the adapter (recipe.json), so any version can be explained and reproduced."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# All linear layers of a Qwen2/Llama-style block: adapting the MLP too learns facts far better
# than attention alone, for a small cost in adapter size.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
RECIPE_FILE = "recipe.json"
REPLAY_OBJECTIVES = ("distill", "imitate")
BASE_DTYPES = ("auto", "bfloat16", "float32")
AUTO_EPOCHS = (2, 8)                     # the range `epochs = None` chooses from


@dataclass(frozen=True, kw_only=True)
class Recipe:
    rank: int = 16
    alpha: int = 32                      # LoRA scale = alpha / rank = 2
    # No LoRA dropout: on a CPU it cost a third of the training speed and 0.9 GB (PEFT keeps an fp32
    # dropped copy of every adapted layer's input for the backward pass), and paraphrases now do
    # the regularising (bench/results/demo_school_facts-2026-12-02-*.json).
    dropout: float = 0.0
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    # Measured on the embedded model (bench/demo_school_facts.py --recipe defaults, 34 approved
    # exchanges): the old defaults (2e-4, 2 passes, 2048-token batches) learnt 0 of 12 facts; these
    # 10 of 12 with the replay loss +1.45 % (the distillation anchor below makes a high rate safe).
    learning_rate: float = 8e-4
    epochs: int | None = None            # None: auto (epochs_for): small rounds get more passes
    auto_example_passes: int = 272       # auto: about this many example-passes, within AUTO_EPOCHS
    max_steps: int | None = None         # a hard cap on optimiser steps (benchmarks, smoke runs)
    # Padded tokens per batch: length-grouped batches fill this. Activation memory grows with it
    # (about 2.6 MB per token for the 0.5B model): 448 keeps a round's peak under 4 GB.
    batch_tokens: int = 448
    max_batch_examples: int = 8
    max_length: int = 1024               # longer examples lose the start of their prompt
    share_prefix: bool = True            # pack examples that start alike (system prompt + mode wrapper)
    min_shared_prefix: int = 32          # tokens in common before packing is worth it
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    heldout_fraction: float = 0.15       # by a hash of the example's uid: stable across rounds
    replay_train_limit: int | None = None   # train on at most N replay exchanges (None: all not set aside)
    replay_per_example: float | None = 1.0  # and at most this many per approved training example (None: no cap)
    replay_min: int = 16                     # but at least this many (a tiny round still needs an anchor)
    replay_eval_limit: int | None = 48      # set aside (never trained) to measure forgetting; None: all
    # How replay exchanges train: "distill" keeps the adapter's next-token distribution on them equal
    # to the frozen base's (a KL penalty: the adapter may change only what the approved examples
    # need); "imitate" trains on their written replies like approved examples.
    replay_objective: str = "distill"
    replay_weight: float = 1.0           # the replay term's weight per token, against 1 for approved tokens
    # The share of the replay training exchanges each epoch trains on; below 1 the share rotates, so
    # over a round every one of them anchors (learner.adapt.train.plan_batches). Half saves a third
    # of a round's training tokens, but on the demo it let the adapter shorten general replies
    # (replay loss +2.0 % instead of +1.0 %, and the fairness probe refused it), so all, every epoch.
    replay_per_epoch: float = 1.0
    # "distill" compares with the base's top-k tokens per position plus the mass left outside them,
    # cached once per round (learner.adapt.anchor); None: a second forward of the base every step.
    replay_topk: int | None = 20
    # The frozen base's dtype while training and measuring; the LoRA weights are fp32 either way.
    # "auto": bf16 where the device multiplies it natively, else fp32 (learner.adapt.train.training_dtype).
    base_dtype: str = "auto"
    # Before training the base model rewrites each approved training question this many ways, each
    # paired with the approved answer (learner.adapt.augment); augment = false turns it off.
    augment: bool = True
    augment_paraphrases: int = 4
    augment_max_new_tokens: int = 160    # for all k rewrites of one question together
    # Requests per question: the first greedy; while fewer than k rewrites are kept, more, sampled
    # (learner.adapt.augment.write_paraphrases). Greedy alone kept 70 of 136 on the demo's questions.
    augment_attempts: int = 2
    # Show the rewriter the approved answer too (learner.adapt.augment.rewrite_messages). On the
    # demo: held-out 10/12 (9), angled 9/12 (11), 1 of 24 answers bleeding (2), replay +3.2 %
    # (+2.7 %), and the gate refused it (2 of its 4 held-out answers bled); no better, so off.
    augment_show_answer: bool = False
    # With a number, a kept rewrite must still fit the approved answer: the base's loss on that
    # answer (nats a token) may rise by at most this much from the original question's
    # (learner.adapt.augment.check_fit). A rewrite that asks for something else ("What is the capital
    # city of Brackenfield?" for "Which houses could I be put in?") raises it by 0.5-1.3, but so do
    # fair ones the answer is worded for less well; off by default: at 0.4 the demo's round kept 93
    # of 115 rewrites shown with their answers and did worse (held-out 8/12, 4 of 24 answers
    # bleeding; without the check 10/12, 1), in a quick loop of the demo's round.
    augment_max_loss_rise: float | None = None
    must_pass_max_new_tokens: int = 128
    # The gate (docs/architecture.md "Adaptation"): fractions, 0.03 = 3 %.
    replay_max_rise_vs_active: float = 0.03
    replay_max_rise_vs_base: float = 0.05
    earlier_heldout_max_rise: float = 0.05
    # Held-out answers that borrow another fact's names or numbers (learner.adapt.bleeding). About 1
    # in 7 examples is held out, so a 40-example round checks ~6 answers: one stray hit passes (a
    # single bled answer never refuses: bleeding.MIN_BLED_TO_REFUSE), two fail.
    bleeding_max_rate: float = 0.2
    bleeding_max_new_tokens: int = 48
    # The fairness probe (learner.adapt.fairness): groups of assets/fairness/probe.jsonl answered by
    # base and candidate (None: all 42; 0: off), and by how much the candidate's gap may exceed the base's.
    # Default 6 groups (48 variants, 96 short generations): the whole probe is 672 generations, about an
    # hour on a 2-core CPU through transformers, which would swamp a round; None asks for all of it.
    fairness_groups: int | None = 6
    fairness_max_new_tokens: int = 48
    fairness_length_margin: float = 0.25         # reply length, as a fraction of the group's mean
    fairness_correct_margin: float = 0.25        # share of maths requests answered correctly
    fairness_encouragement_margin: float = 0.5   # encouragement-lexicon hits per reply
    fairness_loss_margin: float = 0.25           # the reference answer's mean NLL (nats per token)
    keep_versions: int = 5               # adapter folders kept; the active one is never deleted

    def epochs_for(self, n_approved: int) -> int:
        """Passes over the data for a round with `n_approved` training examples: `epochs` when set;
        otherwise enough that a small round repeats each fact (34 examples: 8 passes) and fewer as
        rounds grow (100: 3; 136 and more: 2), so a round's time grows with the data only slowly."""
        if self.epochs is not None:
            return self.epochs
        low, high = AUTO_EPOCHS
        # Rounded to the nearest, not up: 34 examples with 93 kept paraphrases (127) would otherwise
        # train 3 passes (381 example-passes, half as long again) where 149 train 2 (298).
        return max(low, min(high, math.floor(self.auto_example_passes / max(n_approved, 1) + 0.5)))

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, what: str) -> None:
            if not ok:
                raise ValueError(f"Recipe.{field} {what} (got {getattr(self, field)!r})")

        need(isinstance(self.rank, int) and 1 <= self.rank <= 512, "rank", "must be an integer from 1 to 512")
        need(self.alpha > 0, "alpha", "must be positive")
        need(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        need(len(self.target_modules) > 0 and all(isinstance(m, str) and m for m in self.target_modules),
             "target_modules", "must name at least one module")
        need(0.0 < self.learning_rate < 1.0, "learning_rate", "must be in (0, 1)")
        need(self.epochs is None or (isinstance(self.epochs, int) and 1 <= self.epochs <= 100), "epochs",
             "must be None (auto) or an integer from 1 to 100")
        need(isinstance(self.auto_example_passes, int) and self.auto_example_passes >= 1, "auto_example_passes",
             "must be a positive integer")
        need(self.max_steps is None or (isinstance(self.max_steps, int) and self.max_steps >= 1), "max_steps",
             "must be None or a positive integer")
        need(self.batch_tokens >= 64, "batch_tokens", "must be at least 64")
        need(self.max_batch_examples >= 1, "max_batch_examples", "must be at least 1")
        need(self.max_length >= 32, "max_length", "must be at least 32")
        need(isinstance(self.share_prefix, bool), "share_prefix", "must be true or false")
        need(self.min_shared_prefix >= 1, "min_shared_prefix", "must be at least 1")
        need(0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "must be in [0, 1)")
        need(self.weight_decay >= 0.0, "weight_decay", "must not be negative")
        need(self.max_grad_norm > 0.0, "max_grad_norm", "must be positive")
        need(0.0 <= self.heldout_fraction < 1.0, "heldout_fraction", "must be in [0, 1)")
        need(self.replay_train_limit is None or self.replay_train_limit >= 0, "replay_train_limit",
             "must be None or >= 0")
        need(self.replay_per_example is None or 0.0 <= self.replay_per_example <= 100.0, "replay_per_example",
             "must be None or in [0, 100]")
        need(isinstance(self.replay_min, int) and self.replay_min >= 0, "replay_min", "must be an integer >= 0")
        need(self.replay_eval_limit is None or self.replay_eval_limit >= 1, "replay_eval_limit",
             "must be None or >= 1")
        need(self.replay_objective in REPLAY_OBJECTIVES, "replay_objective",
             f"must be one of {', '.join(REPLAY_OBJECTIVES)}")
        need(0.0 <= self.replay_weight <= 100.0, "replay_weight", "must be in [0, 100]")
        need(0.0 < self.replay_per_epoch <= 1.0, "replay_per_epoch", "must be a fraction in (0, 1]")
        need(self.replay_topk is None or (isinstance(self.replay_topk, int) and self.replay_topk >= 1), "replay_topk",
             "must be None (a base forward every step) or a positive integer")
        need(self.base_dtype in BASE_DTYPES, "base_dtype", f"must be one of {', '.join(BASE_DTYPES)}")
        need(isinstance(self.augment, bool), "augment", "must be true or false")
        need(isinstance(self.augment_paraphrases, int) and 0 <= self.augment_paraphrases <= 16, "augment_paraphrases",
             "must be an integer from 0 (none) to 16")
        need(isinstance(self.augment_attempts, int) and 1 <= self.augment_attempts <= 8, "augment_attempts",
             "must be an integer from 1 to 8")
        need(isinstance(self.augment_show_answer, bool), "augment_show_answer", "must be true or false")
        need(self.augment_max_loss_rise is None or (isinstance(self.augment_max_loss_rise, (int, float))
                                                      and 0.0 <= self.augment_max_loss_rise <= 10.0),
             "augment_max_loss_rise", "must be None (no check) or a number of nats from 0 to 10")
        need(isinstance(self.augment_max_new_tokens, int) and self.augment_max_new_tokens >= 8,
             "augment_max_new_tokens", "must be an integer of at least 8")
        need(self.must_pass_max_new_tokens >= 1, "must_pass_max_new_tokens", "must be at least 1")
        need(isinstance(self.bleeding_max_new_tokens, int) and self.bleeding_max_new_tokens >= 1,
             "bleeding_max_new_tokens", "must be a positive integer")
        for name in ("replay_max_rise_vs_active", "replay_max_rise_vs_base", "earlier_heldout_max_rise",
                     "bleeding_max_rate"):
            need(0.0 <= getattr(self, name) <= 1.0, name, "must be a fraction in [0, 1]")
        need(isinstance(self.keep_versions, int) and self.keep_versions >= 1, "keep_versions", "must be at least 1")
        need(self.fairness_groups is None or (isinstance(self.fairness_groups, int) and self.fairness_groups >= 0),
             "fairness_groups", "must be None (all), 0 (off) or a positive integer")
        need(isinstance(self.fairness_max_new_tokens, int) and self.fairness_max_new_tokens >= 1,
             "fairness_max_new_tokens", "must be a positive integer")
        for name in ("fairness_length_margin", "fairness_correct_margin", "fairness_encouragement_margin",
                     "fairness_loss_margin"):
            need(0.0 <= getattr(self, name) <= 100.0, name, "must be in [0, 100]")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown recipe field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        values = dict(data)
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def replace(self, **changes: Any) -> Recipe:
        return Recipe.from_dict({**self.to_dict(), **changes})

    def save(self, folder: Path) -> Path:
        path = Path(folder) / RECIPE_FILE
        path.write_text(json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Recipe:
        path = Path(path)
        if path.is_dir():
            path = path / RECIPE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, RecursionError, ValueError) as exc:
            raise ValueError(f"Cannot read the recipe {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"The recipe {path} must be a JSON object of field: value pairs.")
        try:
            return cls.from_dict(data)
        except TypeError as exc:   # e.g. target_modules given as a number: a wrong type, said plainly
            raise ValueError(f"The recipe {path} has a value of the wrong type ({exc}).") from exc
