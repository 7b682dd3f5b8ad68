"""Acronyms learned from abstracts ("large language models (LLMs)"), used to expand keywords.

Definitions are found with the Schwartz-Hearst rule: a parenthesised short form whose
letters occur, in order, in the words just before it, the first letter starting a word.
An acronym the history defines in two unrelated ways is left alone. An acronym it has never
seen defined falls back to its common meaning, if it has one (known_acronyms.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cache

from digest.ranking.known_acronyms import KNOWN
from digest.ranking.text import stems, words

_DEFINITION = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9})\s*\)")
_PRECEDING_WORDS = re.compile(r"[^\s()]+")
MAX_VARIANTS = 4
# an acronym also defined as something else (no stem in common) at least a third as often as
# its best long form has two senses ("DP": dynamic programming, differential privacy): it is
# not rewritten either way, since a bare "DP" in a paper may mean the other one
RIVAL_SHARE = 3


def short_form(raw: str) -> str | None:
    """The acronym in a parenthesis, normalised ("LLMs" -> "llm"), or None if it is not one."""
    letters = raw.replace("-", "")
    if letters.endswith("s") and sum(ch.isupper() for ch in letters[:-1]) >= 2:
        letters = letters[:-1]
    if sum(ch.isupper() for ch in letters) < 2 or not letters[0].isalpha():
        return None
    return letters.lower()


def long_form(short: str, before: Sequence[str]) -> list[str] | None:
    """The words of `before` (in order) that `short` abbreviates, or None (Schwartz-Hearst)."""
    letters = [ch for ch in short if ch.isalnum()]
    window = list(before[-min(len(letters) + 5, len(letters) * 2) :])
    text = " ".join(window).lower()
    s, t = len(letters) - 1, len(text) - 1
    while s >= 0:
        ch = letters[s]
        while t >= 0 and (text[t] != ch or (s == 0 and t > 0 and text[t - 1].isalnum())):
            t -= 1
        if t < 0:
            return None
        t -= 1
        s -= 1
    found = window[text[: t + 1].count(" ") :]
    if 1 < len(found) <= len(letters) + 2 or (len(found) == 1 and len(letters) <= 3):
        return found
    return None


def definitions(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every (acronym, stemmed long form) an abstract defines."""
    out = []
    for match in _DEFINITION.finditer(text):
        short = short_form(match.group(1))
        if short is None:
            continue
        before = _PRECEDING_WORDS.findall(text[max(0, match.start() - 200) : match.start()])
        found = long_form(short, before)
        if not found:
            continue
        expansion = tuple(stems(" ".join(found)))
        if len(expansion) >= 2 and short not in expansion:
            out.append((short, expansion))
    return out


_LISTED = re.compile(r"(.+) \((\w+)\)")  # "long form (SHORT)"


@cache
def known() -> dict[str, tuple[str, ...]]:
    """The common acronyms of known_acronyms.py: acronym -> stemmed long form."""
    out = {}
    for text in KNOWN:
        listed = _LISTED.fullmatch(text)
        short = short_form(listed[2]) if listed else None
        if listed and short:
            out[short] = tuple(stems(listed[1]))
    return out


class Acronyms:
    """Acronym <-> long form, learned by counting definitions across a history of abstracts."""

    def __init__(self, counts: Mapping[tuple[str, tuple[str, ...]], int] | None = None) -> None:
        self.counts: Counter[tuple[str, tuple[str, ...]]] = Counter(counts or {})
        self._index()

    def learn(self, texts: Iterable[str]) -> None:
        """Count the definitions found in these texts."""
        for text in texts:
            self.counts.update(set(definitions(text)))
        self._index()

    def _index(self) -> None:
        best: dict[str, tuple[int, tuple[str, ...]]] = {}
        for (short, expansion), count in self.counts.items():
            if count > best.get(short, (0, ()))[0]:
                best[short] = (count, expansion)
        ambiguous = {
            short
            for (short, expansion), count in self.counts.items()
            if count * RIVAL_SHARE >= best[short][0] and not set(expansion) & set(best[short][1])
        }
        self.expand = {s: e for s, (_, e) in best.items() if s not in ambiguous}
        spelled = set(self.expand.values())
        for short, expansion in known().items():
            if short not in best and expansion not in spelled:  # the history has its say
                self.expand[short] = expansion
        self.contract = {expansion: short for short, expansion in self.expand.items()}

    def variants(self, tokens: Sequence[str]) -> list[tuple[str, ...]]:
        """The keyword's stems, then each rewriting of its acronyms and long forms."""
        out = [tuple(tokens)]
        expanded: list[str] = []
        for token in tokens:
            expanded.extend(self.expand.get(token, (token,)))
        out.append(tuple(expanded))
        for expansion, short in self.contract.items():
            n = len(expansion)
            for i in range(len(tokens) - n + 1):
                if tuple(tokens[i : i + n]) == expansion:
                    out.append((*tokens[:i], short, *tokens[i + n :]))
        return list(dict.fromkeys(out))[:MAX_VARIANTS]

    def to_rows(self) -> list[list[object]]:
        """The counts as JSON-ready rows [acronym, long form, count]."""
        return [[s, " ".join(e), c] for (s, e), c in self.counts.items()]

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[object]]) -> Acronyms:
        """Acronyms from rows written by to_rows."""
        return cls({(str(s), tuple(str(e).split())): int(str(c)) for s, e, c in rows})


__all__ = ["Acronyms", "definitions", "words"]
