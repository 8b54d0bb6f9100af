"""What the maths engine refuses or cannot compute. Every message is written for the person at the
screen (a student, a teacher reading a log), so the caller may show it as it is."""
from __future__ import annotations

from learner.errors import LearnerError


class MathsError(LearnerError):
    """Base class: the engine has no exact, verified result for this input."""


class MathsRefused(MathsError):
    """The input is outside what the engine agrees to run: a name, an attribute, an import, a kind
    of statement it does not know, or anything past its bounds (length, nesting, number size,
    exponent, steps, time)."""


class NoExactValue(MathsError):
    """The input is allowed but has no exact value: division by zero, √2, a fractional power."""
