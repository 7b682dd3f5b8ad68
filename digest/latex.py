"""LaTeX left in listing titles and abstracts (`$\\pi$`, `~(NCE)`, `\\textbf{...}`) turned into
readable Unicode for digests; plain text passes through untouched."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_MARKERS = ("$", "\\", "~")
# characters LaTeX would treat as syntax but a listing means literally ("by 20%", "Q&A", "#1")
_LITERAL = re.compile(r"(?<!\\)([%&#])")
# a dollar sign before an amount ("costs $5 and $10", "$1.5B."), not math: "$10^{-3}$" and
# "$5$" go on past the number
_CURRENCY = re.compile(r"(?<!\\)\$(?=\d[\d.,]*+(?:[kKmMbB]|bn|mn)?(?:[\s),;:.!?]|$))")
# font and style commands whose argument is the text itself (pylatexenc drops some, e.g. \texttt)
_STYLE = re.compile(
    r"\\(?:text(?:bf|it|tt|sc|sf|rm|sl|up|md|normal)?|emph|mathrm|mathbf|mathit|mathtt|"
    r"mathsf|operatorname|underline)\{([^{}]*)\}"
)


# in math, a superscript or subscript that Unicode has a character for each of its letters
# ("$10^{-3}$", "$R^2$", "$\\ell_1$") is written with them: 10⁻³, R², ℓ₁, not 10^-3
_MATH = re.compile(r"\$([^$]+)\$")
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]+)\}|([0-9A-Za-z*+\-]))")
_SUPER = dict(zip("0123456789+-=()ni*", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ*", strict=True))
_SUB = dict(zip("0123456789+-=()aeoxhklmnpstij", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼ", strict=True))


def _scripts(math: re.Match[str]) -> str:
    return "$" + _SCRIPT.sub(_script, math.group(1)) + "$"


def _script(found: re.Match[str]) -> str:
    table = _SUPER if found.group(1) == "^" else _SUB
    body = found.group(2) if found.group(2) is not None else found.group(3)
    if all(ch in table for ch in body):
        return "".join(table[ch] for ch in body)
    return found.group(0)


@lru_cache(maxsize=1)
def _converter() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text  # loaded only when some text needs it

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


@lru_cache(maxsize=16384)  # the same titles and abstracts go into many digests
def readable(text: str) -> str:
    """The text with its LaTeX rendered as Unicode (π, 𝒪, x₁₂), whitespace collapsed."""
    if not any(marker in text for marker in _MARKERS):
        return text
    try:
        literal = _CURRENCY.sub(r"\\$", _LITERAL.sub(r"\\\1", text))
        plain = _MATH.sub(_scripts, _STYLE.sub(r"\1", literal))
        converted = str(_converter().latex_to_text(plain))
    except Exception:  # pylatexenc is lenient, but a listing can hold anything: keep it as is
        return text
    return " ".join(converted.replace("\xa0", " ").split()) or text
