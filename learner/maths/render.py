"""LaTeX left in a model's reply, turned into maths a student can read as plain text.

"[ \\frac{2}{3} + \\frac{1}{6} ]" → "2/3 + 1/6", "\\( 3 \\times 4 \\)" → "3 × 4", "x^{2}" → "x²",
"\\sqrt{x+1}" → "√(x+1)", "\\text{ cm}" → " cm", "\\boxed{42}" → "42".

Why not a general converter: pylatexenc's LatexNodes2Text (the maintained one on PyPI) was
measured on replies like the 0.5B model's and changes their meaning: "%" starts a LaTeX comment,
so "15% of 80 is 12 …" became "15"; "\\frac{11 - 3}{2}" became "11 - 3/2" and "\\dfrac{a+b}{c}"
became "a+bc" (no brackets); "$18 and … $2" was read as maths; code blocks were rewritten. Replies
mix prose, money, percentages and code with a little LaTeX, so this converter touches only LaTeX:
backslash commands, the maths delimiters, and ^ _ { } inside maths. Code (``` blocks and `spans`)
is left exactly as written.
"""
from __future__ import annotations

import re

_SYMBOLS = {
    "times": "×", "div": "÷", "cdot": "·", "pm": "±", "mp": "∓", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥",
    "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼", "equiv": "≡", "pi": "π", "infty": "∞", "degree": "°",
    "circ": "∘", "rightarrow": "→", "to": "→", "Rightarrow": "⇒", "implies": "⇒", "leftarrow": "←",
    "Leftarrow": "⇐", "iff": "⇔", "Leftrightarrow": "⇔", "ldots": "…", "dots": "…", "cdots": "⋯", "therefore": "∴",
    "because": "∵", "theta": "θ", "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "Delta": "Δ", "mu": "μ",
    "sigma": "σ", "Sigma": "Σ", "lambda": "λ", "omega": "ω", "Omega": "Ω", "phi": "φ", "angle": "∠",
    "triangle": "△", "perp": "⊥", "parallel": "∥", "in": "∈", "notin": "∉", "cup": "∪", "cap": "∩",
    "subset": "⊂", "emptyset": "∅", "varnothing": "∅", "sum": "Σ", "prod": "∏", "int": "∫", "partial": "∂",
    "lt": "<", "gt": ">", "ast": "*", "star": "⋆", "prime": "′", "%": "%", "$": "$", "&": "&", "#": "#", "_": "_",
    "{": "{", "}": "}", "lbrace": "{", "rbrace": "}", "langle": "⟨", "rangle": "⟩", "vert": "|", "mid": "|",
    "lvert": "|", "rvert": "|", "|": "‖", "log": "log", "ln": "ln", "sin": "sin", "cos": "cos", "tan": "tan",
    "min": "min", "max": "max", "exp": "exp", "quad": "  ", "qquad": "    ", ",": " ", ";": " ", ":": " ", "!": "",
    " ": " ", "displaystyle": "", "textstyle": "", "limits": "", "nonumber": "", "hline": "", "noindent": "",
}
_CONTENT_ONLY = {"text", "textrm", "textbf", "textit", "textnormal", "mathrm", "mathbf", "mathit", "mathsf", "mathtt",
                 "operatorname", "boxed", "mbox", "hbox", "fbox", "emph", "underline", "overline", "bar", "vec",
                 "hat", "mathbb", "mathcal", "unit", "textup"}
_SIZING = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
           "middle"}
_FRACTIONS = {"frac", "dfrac", "tfrac", "cfrac"}
_SUPERSCRIPT = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_ROOTS = {"2": "√", "3": "∛", "4": "∜"}
MAX_NESTING = 40

_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]+`)", re.DOTALL)
_DISPLAY = re.compile(r"\\\[(.*?)\\\]|\$\$(.*?)\$\$", re.DOTALL)
_INLINE = re.compile(r"\\\((.*?)\\\)", re.DOTALL)
# Pandoc's rule: $ opens before a non-space and closes after a non-space, not before a digit,
# so "$18 and $2" is money, not maths.
_DOLLARS = re.compile(r"(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\d$])")
# "[ \frac{2}{3} ]" as small models write display maths
_BRACKETED = re.compile(r"\[\s*((?:[^\[\]\n]|\[[^\[\]\n]*\])*?\\[a-zA-Z]+(?:[^\[\]\n]|\[[^\[\]\n]*\])*?)\s*\]")
_ENVIRONMENT = re.compile(r"\\begin\{(align\*?|aligned|equation\*?|gather\*?|eqnarray\*?|array|cases|split)\}"
                          r"(?:\{[^}]*\})?(.*?)\\end\{\1\}", re.DOTALL)
_BEGIN_END = re.compile(r"\\(?:begin|end)\{[a-zA-Z*]+\}(?:\{[^}]*\})?")


def plain_maths(text: str) -> str:
    """The text with its LaTeX turned into plain-text maths; text without LaTeX comes back as it was."""
    if not text or ("\\" not in text and "$" not in text and "^" not in text):
        return text
    parts = _CODE.split(text)
    return "".join(part if i % 2 else _prose(part) for i, part in enumerate(parts))


def _prose(text: str) -> str:
    text = _ENVIRONMENT.sub(lambda m: _maths(m.group(2)), text)
    text = _DISPLAY.sub(lambda m: _maths((m.group(1) if m.group(1) is not None else m.group(2)).strip()), text)
    text = _INLINE.sub(lambda m: _maths(m.group(1).strip()), text)
    text = _DOLLARS.sub(lambda m: _maths(m.group(1)), text)
    text = _BRACKETED.sub(lambda m: _maths(m.group(1)), text)
    if "\\" in text or "^" in text:
        text = _tidy_brackets(_convert(text, maths=False))
    return re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", text)


def _tidy_brackets(text: str) -> str:
    """"\\left( \\frac{1}{2} \\right)" leaves "( 1/2 )"; maths reads "(1/2)"."""
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))


def _maths(text: str) -> str:
    text = _BEGIN_END.sub("", text)
    text = re.sub(r"\\\\(\[[^\]]*\])?", "\n", text)   # a line break in align/array
    text = text.replace("&", "")
    lines = [_tidy_brackets(re.sub(r"[ \t]+", " ", _convert(line, maths=True))).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def _convert(text: str, *, maths: bool, depth: int = 0) -> str:
    if depth > MAX_NESTING:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            name, i = _command_name(text, i + 1)
            converted, i = _command(name, text, i, depth)
            out.append(converted)
            continue
        if char == "^" and (maths or (i + 1 < len(text) and (text[i + 1] in "{\\" or text[i + 1].isdigit()))):
            argument, i = _argument(text, i + 1, digit_run=True)
            out.append(_script(_convert(argument, maths=True, depth=depth + 1), superscript=True))
            continue
        if maths and char == "_":
            argument, i = _argument(text, i + 1, digit_run=True)
            out.append(_script(_convert(argument, maths=True, depth=depth + 1), superscript=False))
            continue
        if maths and char in "{}":
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _command_name(text: str, i: int) -> tuple[str, int]:
    match = re.compile(r"[a-zA-Z]+|.").match(text, i)
    if match is None:
        return "", i
    return match.group(0), match.end()


def _command(name: str, text: str, i: int, depth: int) -> tuple[str, int]:
    """A command and its arguments as plain text, and where they end."""
    def convert(part: str) -> str:
        return _convert(part, maths=True, depth=depth + 1)

    if name in _FRACTIONS:
        top, i = _argument(text, i)
        bottom, i = _argument(text, i)
        return f"{_wrapped(convert(top))}/{_wrapped(convert(bottom))}", i
    if name == "sqrt":
        index = ""
        skipped = _skip_spaces(text, i)
        if skipped < len(text) and text[skipped] == "[":
            close = text.find("]", skipped)
            if close != -1:
                index, i = text[skipped + 1:close].strip(), close + 1
        radicand, i = _argument(text, i)
        root = _ROOTS.get(index or "2", f"{index.translate(_SUPERSCRIPT)}√")
        inner = convert(radicand)
        return (f"{root}{inner}" if re.fullmatch(r"[\w.]+", inner) else f"{root}({inner})"), i
    if name in _CONTENT_ONLY:
        content, i = _argument(text, i)
        return convert(content), i
    if name in _SIZING:
        return "", (i + 1 if i < len(text) and text[i] == "." else i)   # \right. draws nothing
    if name in _SYMBOLS:
        return _SYMBOLS[name], i
    return name, i   # an unknown command: its name reads better than the backslash


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _argument(text: str, i: int, *, digit_run: bool = False) -> tuple[str, int]:
    """One argument: a {group} (braces matched), a \\command, a run of digits (models mean 2^10 as
    two to the tenth, not LaTeX's 2¹0), or a single character."""
    i = _skip_spaces(text, i)
    if i >= len(text):
        return "", i
    digits = re.compile(r"\d+").match(text, i) if digit_run else None
    if digits:
        return digits.group(0), digits.end()
    if text[i] == "{":
        depth = 0
        for j in range(i, len(text)):
            if text[j] == "{" and (j == 0 or text[j - 1] != "\\"):
                depth += 1
            elif text[j] == "}" and text[j - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return text[i + 1:j], j + 1
        return text[i + 1:], len(text)
    if text[i] == "\\":
        _name, end = _command_name(text, i + 1)
        return text[i:end], end
    return text[i], i + 1


def _wrapped(part: str) -> str:
    """A fraction's part keeps its meaning on one line: (11 - 3)/2, not 11 - 3/2."""
    part = part.strip()
    return f"({part})" if re.search(r"[\s+\-−×÷·/]", part) else part


def _script(text: str, *, superscript: bool) -> str:
    text = text.strip()
    if superscript and text in ("∘", "\\circ", "°"):
        return "°"
    table = _SUPERSCRIPT if superscript else _SUBSCRIPT
    if text and all(c in "0123456789+-=()" or (superscript and c == "n") for c in text):
        return text.translate(table)
    mark = "^" if superscript else "_"
    return f"{mark}{text}" if len(text) == 1 else f"{mark}({text})"
