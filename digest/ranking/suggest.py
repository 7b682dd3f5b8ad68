"""Did you mean: a word of a keyword that no paper of the history holds, and the word one edit
away from it (a letter dropped, added, changed, or two swapped) that most papers hold.

A typo in a keyword ("speculativ decoding") costs a reader the papers it was meant for, and
nothing else says so: its other words still match ("decoding"). Words too short to correct
safely (most acronyms) and words with digits ("llama3") are left as typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from digest.ranking.spelling import american
from digest.ranking.text import STOP_WORDS, stem_all, word_stems

MIN_LENGTH = 5  # shorter words are one edit away from too many others
MAX_LENGTH = 24  # longer ones are no typo of a word (and cost more candidates)
MAX_CHECKED = 8  # unknown words looked at in one call (~5 ms each)
MIN_PAPERS = 3  # a suggestion is a word at least this many papers hold
LETTERS = "abcdefghijklmnopqrstuvwxyz"
_TOKEN = re.compile(r"[^\W_]+")


def edits(word: str) -> set[str]:
    """Every string one edit from `word`: a letter dropped, added or changed, two swapped."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    dropped = {a + b[1:] for a, b in splits if b}
    swapped = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    changed = {a + c + b[1:] for a, b in splits if b for c in LETTERS}
    added = {a + c + b for a, b in splits for c in LETTERS}
    return (dropped | swapped | changed | added) - {word}


def suggestions(keywords: Sequence[str], df: Mapping[str, int]) -> dict[str, str]:
    """Typed word -> suggested word, for each word of these keywords no paper holds that is
    one edit from a word many papers hold ("speculativ" -> "speculative"); the first
    MAX_CHECKED unknown words only (a form full of junk must not cost seconds)."""
    found: dict[str, str] = {}
    checked: set[str] = set()
    for keyword in keywords:
        for raw in _TOKEN.findall(keyword.lower()):
            if raw in checked or not raw.isalpha() or not _unknown(raw, df):
                continue
            if len(checked) == MAX_CHECKED:
                return found
            checked.add(raw)
            if better := _nearest(raw, df):
                found[raw] = better
    return found


def _unknown(word: str, df: Mapping[str, int]) -> bool:
    """A word worth correcting: of a correctable length, and held by no paper."""
    if not MIN_LENGTH <= len(word) <= MAX_LENGTH or not word.isascii() or word in STOP_WORDS:
        return False
    return not any(df.get(s, 0) for s in word_stems(american(word)))


def _nearest(word: str, df: Mapping[str, int]) -> str | None:
    """The word one edit from `word` that most papers hold, if at least MIN_PAPERS do."""
    candidates = sorted(edits(word))
    roots = stem_all([american(c) for c in candidates])
    held = [(df.get(root, 0), c) for root, c in zip(roots, candidates, strict=True)]
    papers, best = max(held, key=lambda pair: (pair[0], -len(pair[1]), pair[1]))
    return best if papers >= MIN_PAPERS else None
