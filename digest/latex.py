"""LaTeX left in listing titles and abstracts (`$\\pi$`, `~(NCE)`, `\\textbf{...}`) turned into
readable Unicode for digests; plain text passes through untouched."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_MARKERS = ("$", "\\", "~")
# characters LaTeX would treat as syntax but a listing means literally ("by 20%", "Q&A", "#1")
_LITERAL = re.compile(r"(?<!\\)([%&#])")
# font and style commands whose argument is the text itself (pylatexenc drops some, e.g. \texttt)
_STYLE = re.compile(
    r"\\(?:text(?:bf|it|tt|sc|sf|rm|sl|up|md|normal)?|emph|mathrm|mathbf|mathit|mathtt|"
    r"mathsf|operatorname|underline)\{([^{}]*)\}"
)


@lru_cache(maxsize=1)
def _converter() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text  # loaded only when some text needs it

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


@lru_cache(maxsize=16384)  # the same titles and abstracts go into many digests
def readable(text: str) -> str:
    """The text with its LaTeX rendered as Unicode (π, 𝒪, x_12), whitespace collapsed."""
    if not any(marker in text for marker in _MARKERS):
        return text
    try:
        plain = _STYLE.sub(r"\1", _LITERAL.sub(r"\\\1", text))
        converted = str(_converter().latex_to_text(plain))
    except Exception:  # pylatexenc is lenient, but a listing can hold anything: keep it as is
        return text
    return " ".join(converted.replace("\xa0", " ").split()) or text
