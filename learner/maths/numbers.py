"""Exact numbers as a school writes them: fractions in lowest terms, terminating decimals, mixed
numbers, rounding half away from zero. Everything here works on `fractions.Fraction`."""
from __future__ import annotations

import re
from fractions import Fraction

from learner.maths.errors import MathsRefused

# A decimal literal "12", "-0.5", ".75", "1_000", "2.5e3"; the exponent is read apart from the
# digits so "1e999999999" is refused before Fraction tries to build 10**999999999.
_DECIMAL = re.compile(r"(?P<sign>[-+]?)(?P<int>\d[\d_]*)?(?:\.(?P<frac>\d[\d_]*)?)?(?:[eE](?P<exp>[-+]?\d+))?")
MAX_LITERAL_DIGITS = 1000


def decimal_literal(text: str, *, max_digits: int = MAX_LITERAL_DIGITS) -> Fraction:
    """The exact value of a decimal literal as written ("0.1" is 1/10, not the nearest float)."""
    match = _DECIMAL.fullmatch(text.strip())
    if not match or not (match.group("int") or match.group("frac")):
        raise ValueError(f"{text!r} is not a decimal number")
    whole = (match.group("int") or "0").replace("_", "")
    frac = (match.group("frac") or "").replace("_", "")
    exponent = int(match.group("exp") or 0)
    if len(whole) + len(frac) > max_digits or abs(exponent) > max_digits:
        raise MathsRefused(f"The number {text[:20]}… has more than {max_digits} digits; the engine works with "
                           "smaller numbers.")
    value = Fraction(int(whole + frac), 10 ** len(frac)) * Fraction(10) ** exponent
    return -value if match.group("sign") == "-" else value


def show(value: Fraction) -> str:
    """A whole number or a fraction in lowest terms: 5/6, -3, 7/2."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def show_mixed(value: Fraction) -> str:
    """A mixed number when the value is more than one whole: 7/2 → 3 1/2, -7/2 → -3 1/2."""
    if value.denominator == 1 or abs(value) < 1:
        return show(value)
    whole, rest = divmod(abs(value.numerator), value.denominator)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole} {rest}/{value.denominator}"


def terminates(value: Fraction) -> bool:
    """Whether the value has a finite decimal expansion (its denominator has no prime factor but 2 and 5)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def show_decimal(value: Fraction, *, places: int | None = None) -> str:
    """The value as a decimal: exact when it terminates (3/8 → 0.375); otherwise, or when `places`
    is given, rounded half away from zero to `places` (default 6) with trailing zeros dropped unless
    `places` asks for them."""
    if places is None and terminates(value):
        digits = 0
        while (value * 10 ** digits).denominator != 1:
            digits += 1
        return _fixed(value, digits)
    return _fixed(round_half_up(value, 6 if places is None else places), 6 if places is None else places,
                  keep_zeros=places is not None)


def _fixed(value: Fraction, places: int, *, keep_zeros: bool = True) -> str:
    scaled = round_half_up(value, places) * 10 ** places
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
    whole, frac = (digits[:-places], digits[-places:]) if places else (digits, "")
    if not keep_zeros:
        frac = frac.rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def round_half_up(value: Fraction, places: int = 0) -> Fraction:
    """Round as a school does: halves away from zero (2.5 → 3, -2.5 → -3). Python's round() rounds
    halves to even (round(2.5) == 2), which a student would rightly call wrong."""
    scale = Fraction(10) ** places
    scaled = abs(value) * scale
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    result = Fraction(whole) / scale
    return -result if value < 0 else result


def round_to(value: Fraction, step: Fraction) -> Fraction:
    """Round to the nearest multiple of `step` (10, 1/100, ...), halves away from zero."""
    scaled = abs(value) / step
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    result = whole * step
    return -result if value < 0 else result


def in_lowest_terms(numerator: int, denominator: int) -> bool:
    from math import gcd
    return gcd(numerator, denominator) == 1
