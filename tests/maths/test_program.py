"""The restricted program runner for model-written word-problem programs."""
from __future__ import annotations

import time
from fractions import Fraction

import pytest

from learner.maths import (
    MathsRefused,
    computation_from_programs,
    program_from_reply,
    run_program,
)

FIREWORKS = '''
def solution():
    """Hannah's fireworks."""
    city = 15 * 20
    seen = city * 40 / 100
    own = 3 * 5
    return seen + own

print(solution())
'''

LOOPS = '''
import math

def solution():
    total = 0
    for i in range(1, 11):
        if i % 2 == 0:
            total += i
        elif i == 5:
            continue
        else:
            total -= 1
    boxes = math.ceil(total / 4)
    prices = [2.5, 3, 4.25]
    first, second = 1, 2
    return sum(prices) + boxes + len(prices) + prices[-1] + first + second

if __name__ == "__main__":
    print(solution())
'''

WHILE = '''
def solution():
    trips = 0
    money = 100
    while money > 7:
        money -= 7
        trips += 1
        if trips > 50:
            break
    return trips if money >= 0 else -1
'''


@pytest.mark.parametrize("source, value", [
    (FIREWORKS, Fraction(135)),
    (LOOPS, Fraction(27)),    # total 26, boxes 7, prices 9.75, 3 of them, the last 4.25, then 1 + 2
    (WHILE, Fraction(14)),
    ("def solution():\n    price = 0.1\n    return price * 3\n", Fraction(3, 10)),
    ("def solution():\n    x: int = 7\n    return float(x) / 2\n", Fraction(7, 2)),
    ("def f():\n    return 2 + 2\n", Fraction(4)),
])
def test_programs_run_exactly(source: str, value: Fraction) -> None:
    assert run_program(source).value == value


def test_the_trace_reads_as_working() -> None:
    assert run_program(FIREWORKS).trace == ("city = 15 × 20 = 300", "seen = city × 40 ÷ 100 = 120", "own = 3 × 5 = 15")


HOSTILE = {
    "import os": "import os\ndef solution():\n    return 1\n",
    "import inside": "def solution():\n    import os\n    return 1\n",
    "from import": "from os import system\ndef solution():\n    return 1\n",
    "dunder chain": "def solution():\n    return ().__class__.__bases__[0]\n",
    "attribute": "def solution():\n    x = 1\n    return x.real\n",
    "__import__": "def solution():\n    return __import__('os')\n",
    "open": "def solution():\n    return len(open('/etc/passwd').read())\n",
    "long loop": "def solution():\n    t = 0\n    for i in range(10**9):\n        t += i\n    return t\n",
    "while true": "def solution():\n    t = 0\n    while True:\n        t += 1\n    return t\n",
    "nested loops": ("def solution():\n    t = 0\n    for i in range(10000):\n        for j in range(10000):\n"
                     "            t += 1\n    return t\n"),
    "huge power": "def solution():\n    return 9**9**9\n",
    "squaring": "def solution():\n    x = 2\n    for i in range(100):\n        x = x * x\n    return x\n",
    "huge string": "def solution():\n    s = 'a' * 10**9\n    return 1\n",
    "lambda": "def solution():\n    f = lambda x: x\n    return f(2)\n",
    "comprehension": "def solution():\n    return sum([i for i in range(10)])\n",
    "nested def": "def solution():\n    def g():\n        return 1\n    return g()\n",
    "two functions": "def g():\n    return 1\ndef solution():\n    return 2\n",
    "class": "class A:\n    pass\ndef solution():\n    return 1\n",
    "exec at top": "def solution():\n    return 1\nexec('import os')\n",
    "eval": "def solution():\n    return eval('1 + 1')\n",
    "getattr": "def solution():\n    return getattr(1, 'real')\n",
    "globals": "def solution():\n    return len(globals())\n",
    "try": "def solution():\n    try:\n        return 1\n    except Exception:\n        return 2\n",
    "with": "def solution():\n    with open('x') as f:\n        return 1\n",
    "arguments": "def solution(n=__import__('os')):\n    return 1\n",
    "decorator": "@print\ndef solution():\n    return 1\n",
    "no return": "def solution():\n    x = 1\n",
    "returns text": "def solution():\n    return 'twelve'\n",
    "dunder name": "def solution():\n    __builtins__ = 1\n    return 1\n",
    "undefined": "def solution():\n    return total\n",
    "subscript assignment": "def solution():\n    a = [1]\n    a[0] = 2\n    return a[0]\n",
    "no function": "x = 1\n",
    "syntax error": "def solution(:\n    return 1\n",
    "huge source": "def solution():\n    return 1\n" + "# padding\n" * 10_000,
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_programs_are_refused_quickly(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(MathsRefused) as refused:
        run_program(source)
    assert time.monotonic() - started < 5
    assert str(refused.value)


@pytest.mark.parametrize("reply, program", [
    ("Here you go:\n```python\ndef solution():\n    return 2 + 2\n\nprint(solution())\n```\nThe answer is 4.",
     "def solution():\n    return 2 + 2\n\nprint(solution())"),
    ("def solution():\n    a = 3\n    return a\nThis returns 3.", "def solution():\n    a = 3\n    return a"),
    ("The answer is 4.", None),
])
def test_the_program_is_taken_from_a_reply(reply: str, program: str | None) -> None:
    assert program_from_reply(reply) == program


def test_self_consistency_keeps_the_value_most_programs_agree_on() -> None:
    right = "def solution():\n    return 15 * 20 * 40 / 100 + 3 * 5\n"
    wrong = "def solution():\n    return 15 * 20 + 3 * 5\n"
    broken = "import os\ndef solution():\n    return 1\n"
    votes = computation_from_programs("How many fireworks?", [right, wrong, right, broken])
    assert votes.computation is not None and votes.computation.value == 135
    assert (votes.agreeing, votes.ran, len(votes.refusals)) == (2, 3, 1)
    tie = computation_from_programs("How many?", [right, wrong])
    assert tie.computation is None
    alone = computation_from_programs("How many?", [right], min_agreeing=1)
    assert alone.computation is not None and alone.computation.result == "135"


@pytest.mark.parametrize("values, remaining, settled", [
    ([Fraction(135), Fraction(135)], 1, True),                 # 2 of 3 agree: the third cannot change it
    ([Fraction(135), Fraction(300)], 1, False),               # a tie so far: the third decides
    ([Fraction(135), None, Fraction(135)], 2, False),         # 2 against a possible 2
    ([Fraction(135), Fraction(135), Fraction(135)], 2, True),
    ([None, None], 1, False),                                 # nothing ran
    ([Fraction(7)], 0, False),                                # one program alone never settles at 2
])
def test_writing_programs_stops_once_more_cannot_change_the_vote(values, remaining, settled) -> None:
    from learner.maths.recognise import votes_settled

    assert votes_settled(values, remaining=remaining, min_agreeing=2) is settled


def test_a_programs_value_or_none_when_refused() -> None:
    from learner.maths.recognise import program_value

    assert program_value("def solution():\n    return 15 * 20 * 40 / 100\n", "How many?") == 120
    assert program_value("import os\ndef solution():\n    return 1\n", "How many?") is None
    negative = "def solution():\n    return 4 - 16\n"
    assert program_value(negative, "How many hours does she work?") is None
    assert program_value(negative, "It was 4 °C and fell by 16 degrees. What is it now, below zero?") == -12


def test_agreeing_negative_answers_to_a_problem_about_amounts_are_not_kept() -> None:
    negative = "def solution():\n    return 4 - 16\n"
    votes = computation_from_programs("How many hours does Jo work?", [negative] * 3, min_agreeing=3)
    assert votes.computation is None and len(votes.refusals) == 3 and "negative" in votes.refusals[0]
