"""One exception hierarchy for the learner layer; messages are written for the person at the screen
and say what to do next."""
from __future__ import annotations


class LearnerError(Exception):
    """Base class: anything the learner layer refuses or cannot do."""


class ModelSourceError(LearnerError):
    """The model cannot be found, assembled, verified, converted or read (a missing chunk package,
    a hash mismatch, an unreadable folder or file, a hub id while offline)."""


class PreparationCancelled(LearnerError):
    """The user pressed Cancel while the model was being prepared; nothing half-written is left."""


class DeviceUnavailableError(LearnerError):
    """The chosen device (cuda, mps) is not available on this machine."""


class GenerationError(LearnerError):
    """Generation failed after the model was loaded (out of memory, a broken model, ...)."""
