"""Continual LoRA adaptation: each round trains a fresh adapter on the approved examples plus the
replay set, evaluates it against the active adapter and the base, and registers a candidate.

    dataset  examples → (prompt ids, completion ids), stable held-out split, length-grouped batches
    recipe   the training settings (a validated dataclass, saved beside the adapter)
    train    LoRA training with the loss and the LM head on completion tokens only
    evaluate losses per set, must-pass generation
    gate     the pure verdict from those figures
    registry adapter folders (temp folder → rename), pruning, hot-swap paths
    round    one whole round, recorded as a training_runs row; `python -m learner.adapt` runs it
"""
from __future__ import annotations

from learner.errors import LearnerError


class AdaptError(LearnerError):
    """An adaptation round cannot run or failed (the message says why and what to do)."""


class NothingToTrain(AdaptError):
    """No approved examples (train split) yet."""


class TrainingCancelled(AdaptError):
    """Cancel was pressed (or the process was terminated); nothing was registered."""
