"""LaTeX in model replies turned into plain-text maths, with prose, money and code left alone."""
from __future__ import annotations

import time

import pytest

from learner.maths import plain_maths

# Written the way the embedded 0.5B model and its larger siblings write maths.
CASES = [
    (r"Find a common denominator: [ \frac{2}{3} + \frac{1}{6} = \frac{4}{6} + \frac{1}{6} = \frac{5}{6} ]",
     "Find a common denominator: 2/3 + 1/6 = 4/6 + 1/6 = 5/6"),
    (r"The answer is \( \frac{3}{4} \).", "The answer is 3/4."),
    (r"\[ x = \frac{11 - 3}{2} = 4 \]", "x = (11 - 3)/2 = 4"),
    (r"We get \(\dfrac{a+b}{c}\) where \(a \neq 0\) and \(b \geq 2\).", "We get (a+b)/c where a ≠ 0 and b ≥ 2."),
    (r"So $2x + 3 = 11$ gives $x = 4$.", "So 2x + 3 = 11 gives x = 4."),
    (r"15% of 80 is 12 because \( 0.15 \times 80 = 12 \).", "15% of 80 is 12 because 0.15 × 80 = 12."),
    (r"Area = \pi r^2 = 3.14 \times 5^{2} = 78.5 \text{ cm}^2", "Area = π r² = 3.14 × 5² = 78.5 cm²"),
    (r"\sqrt{16} = 4 and \sqrt{x+1}", "√16 = 4 and √(x+1)"),
    (r"\sqrt[3]{27} = 3", "∛27 = 3"),
    (r"\left( \frac{1}{2} \right)^2 = \frac{1}{4}", "(1/2)² = 1/4"),
    ("Step 1: \\( 12 \\div 4 = 3 \\)\nStep 2: \\( 3 \\cdot 5 = 15 \\)", "Step 1: 12 ÷ 4 = 3\nStep 2: 3 · 5 = 15"),
    (r"\boxed{42}", "42"),
    (r"[ 3 \times 4 = 12 ]", "3 × 4 = 12"),
    (r"The answer is \frac12 of the pizza.", "The answer is 1/2 of the pizza."),
    (r"\begin{align*} 2x + 3 &= 11 \\ 2x &= 8 \\ x &= 4 \end{align*}", "2x + 3 = 11\n2x = 8\nx = 4"),
    (r"It is 30^\circ C and the angle is 90^{\circ}.", "It is 30° C and the angle is 90°."),
    (r"So the total is \$45.", "So the total is $45."),
    (r"2^10 = 1024 and \(x_1 + x_{10}\)", "2¹⁰ = 1024 and x₁ + x₁₀"),
    (r"\frac{\frac{1}{2}}{3}", "(1/2)/3"),
]


@pytest.mark.parametrize("latex, plain", CASES)
def test_latex_reads_as_plain_maths(latex: str, plain: str) -> None:
    assert plain_maths(latex) == plain


@pytest.mark.parametrize("text", [
    "The price is $18 and the tax is $2.",
    "15% of 80 is 12.",
    "Add 1/2 and 1/4: the answer is 3/4.",
    "```python\nx = a_b ^ 2\nprint('$5 \\frac{1}{2}')\n```",
    "Use `a_b` and `{name}` as they are.",
    "",
])
def test_text_without_latex_is_left_as_it_was(text: str) -> None:
    assert plain_maths(text) == text


def test_deep_nesting_is_bounded() -> None:
    started = time.monotonic()
    result = plain_maths("\\(" + "\\frac{" * 500 + "1" + "}{2}" * 500 + "\\)")
    assert isinstance(result, str) and time.monotonic() - started < 2
