"""Units a school uses, converted exactly: length, mass, time, volume, money and temperature.

A small table rather than `pint`: every factor here is exact by definition (an inch is 2.54 cm,
a pound 0.45359237 kg), so conversions stay `Fraction`s, the table reads in one screen, and
importing it costs nothing. Names are matched case-insensitively in singular and plural.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from learner.maths.errors import NoExactValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    symbol: str          # how results show it: "cm"
    dimension: str       # length | mass | time | volume | usd | gbp | eur | temperature
    factor: Fraction     # how many of the dimension's base unit one of these is
    offset: Fraction = Fraction(0)   # temperature only: base = value * factor + offset (base is kelvin)


def _units() -> dict[str, Unit]:
    table: dict[str, Unit] = {}

    def add(symbol: str, dimension: str, factor: Fraction | int | str, *names: str,
            offset: Fraction = Fraction(0)) -> None:
        unit = Unit(symbol=symbol, dimension=dimension, factor=Fraction(factor), offset=offset)
        for name in (symbol, *names):
            table[name.lower()] = unit

    def metre_names(prefix: str) -> tuple[str, ...]:
        return f"{prefix}metre", f"{prefix}metres", f"{prefix}meter", f"{prefix}meters"

    add("mm", "length", "1/1000", *metre_names("milli"))
    add("cm", "length", "1/100", *metre_names("centi"))
    add("m", "length", 1, *metre_names(""))
    add("km", "length", 1000, *metre_names("kilo"), "kms")
    add("in", "length", "0.0254", "inch", "inches")
    add("ft", "length", "0.3048", "foot", "feet")
    add("yd", "length", "0.9144", "yard", "yards")
    add("mi", "length", "1609.344", "mile", "miles")
    add("mg", "mass", "1/1000000", "milligram", "milligrams")
    add("g", "mass", "1/1000", "gram", "grams", "gramme", "grammes")
    add("kg", "mass", 1, "kilogram", "kilograms", "kilo", "kilos", "kgs")
    add("t", "mass", 1000, "tonne", "tonnes", "metric ton", "metric tons")
    add("oz", "mass", Fraction("0.45359237") / 16, "ounce", "ounces")
    add("lb", "mass", "0.45359237", "lbs")
    add("ms", "time", "1/1000", "millisecond", "milliseconds")
    add("s", "time", 1, "sec", "secs", "second", "seconds")
    add("min", "time", 60, "mins", "minute", "minutes")
    add("h", "time", 3600, "hr", "hrs", "hour", "hours")
    add("day", "time", 86400, "days")
    add("week", "time", 604800, "weeks")
    add("ml", "volume", "1/1000", "millilitre", "millilitres", "milliliter", "milliliters")
    add("cl", "volume", "1/100", "centilitre", "centilitres", "centiliter", "centiliters")
    add("l", "volume", 1, "litre", "litres", "liter", "liters")
    add("gal", "volume", "3.785411784", "gallon", "gallons")
    add("$", "usd", 1, "dollar", "dollars", "usd")
    add("¢", "usd", "1/100", "cent", "cents")
    add("£", "gbp", 1, "gbp")
    add("p", "gbp", "1/100", "pence", "penny", "pennies")
    add("€", "eur", 1, "euro", "euros", "eur")
    add("°C", "temperature", 1, "c", "celsius", "degrees celsius", "degree celsius", offset=Fraction("273.15"))
    add("°F", "temperature", "5/9", "f", "fahrenheit", "degrees fahrenheit", "degree fahrenheit",
        offset=Fraction("273.15") - Fraction(160, 9))
    add("K", "temperature", 1, "kelvin", "kelvins")
    return table


UNITS = _units()
# Longest names first, so "degrees celsius" wins over "c".
_NAMES = sorted(UNITS, key=len, reverse=True)
UNIT_PATTERN = "|".join(re.escape(n) for n in _NAMES)


def unit_named(name: str) -> Unit | None:
    key = re.sub(r"\s+", " ", name.strip().lower().rstrip("."))
    key = key.replace("º", "°").replace("° ", "°")
    if key in ("°c", "°f"):
        key = key[1:]
    return UNITS.get(key)


def convert(value: Fraction, source: Unit, target: Unit) -> Fraction:
    """`value` in `source` units, expressed in `target` units, exactly."""
    if source.dimension != target.dimension:
        raise NoExactValue(f"{source.symbol} and {target.symbol} measure different things; one cannot be "
                           "converted into the other.")
    base = value * source.factor + source.offset
    return (base - target.offset) / target.factor
