"""Text analysis shared by papers and keywords: words, stems, compounds and word pairs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache

from digest.ranking.spelling import american
from digest.safe_text import without_invisible

# Hyphens, slashes and LaTeX leftovers separate words: "long-context" = "long context".
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)
# The languages named with a symbol are words of their own, not a letter: C++, C#, F#
_LANGUAGE = re.compile(r"(?<![\w+#.])([CcFf])(\+\+|#)(?![^\W\d]|[+#])")
_SPELLED = {"++": "plusplus", "#": "sharp"}
_ACRONYM_PLURAL = re.compile(r"^([A-Z][A-Z0-9]*[A-Z])s$")  # LLMs, VLMs, GPUs -> LLM, VLM, GPU
_NAME_NUMBER = re.compile(r"([A-Za-z]{3,})([0-9]+)|([0-9]+)([A-Za-z]{3,})")
_IZE_FAMILY = re.compile(r"^([a-z]{3,}iz)(?:e|es|ed|er|ers|ing|ation|ations)$")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Words Snowball cuts down to the stem of a common word of another meaning: "continual
# learning" is not "continuous", "object detection" not "objective", "contrastive learning"
# not "in contrast", "active learning" not "activations", "distributed training" not every
# "distribution", "DPO" (direct preference) not "directions". Each keeps a stem of its own
# (the stemmer_override of search engines).
_OWN_STEM = re.compile(
    r"^(experienc|objectiv|continual|activat|positiv|distribution|multiplica|relativ|informal"
    r"|critical|variational|direction|contrastiv|differentiab|attribution|formation|ranking"
    r"|conformal|numerous|fairly|grounding|relate|exploration|identical|closely|engine(?=s?$)"
    r"|affectiv|activit|responsib|virtually|reflecti|soundness|naturally|information"
    r"|effectiv|consisten|largely|conversation|completion|different|expectation|governance"
    r"|helpful|limitation|limited|powerful|precision|regressive|specification|associative"
    r"|collective|comprehension|contention|demonstration|derivativ)"
)
# Words clipped in use, stemmed as the word they are short for: "math reasoning" is
# "mathematical reasoning", "LLM evals" "LLM evaluations"
_CLIPPED = {
    "math": "mathematics",
    "maths": "mathematics",
    "eval": "evaluation",
    "evals": "evaluation",
}
_AGENT_NOUN = re.compile(r"(?:izer|ator|former|adapter|computer)s?$")  # tokenizers, transformer

# Function words and the boilerplate of abstracts; kept small so that query words survive
# ("use" and "out" are words: "tool use", "out-of-distribution").
STOP_WORDS = frozenset(
    """a about above across after again against all also although am among an and another any
    are as at be because been before being below between both but by can cannot could did do
    does doing done down during each either else etc even ever every few for from further
    had has have having he her here hers him his how however i if in into is it its itself
    just may me might more most much must my neither no nor not of off often on once one
    only or other others otherwise our ours over own per rather same several shall she
    should since so some such than that the their theirs them themselves then there thereby
    therefore these they this those though through thus to too under until up upon us very
    via was we were what when where whether which while who whom whose why will with within
    without would yet you your paper propose proposed show shows present presents introduce
    introduces work existing approach based""".split()  # noqa: SIM905
)


@cache
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: the Snowball English stemmer, in C

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1 << 18)
def stem(word: str) -> str:
    """The Snowball stem of one lower-case word ("galaxies" and "galaxy" -> "galaxi")."""
    return str(_stemmer().stemWord(word))


def stem_all(words: Sequence[str]) -> list[str]:
    """The Snowball stems of many lower-case words at once, past the cache of `stem` (for
    one-off words, such as the candidates of a spelling correction)."""
    return [str(s) for s in _stemmer().stemWords(list(words))]


@lru_cache(maxsize=1 << 18)
def word_stems(word: str) -> tuple[str, ...]:
    """The stem of a lower-case word; and an agent noun that the stemmer cuts down to its
    verb ("tokenizer" -> token, "accelerators" -> acceler, "transformer" -> transform) also
    stays itself (singular): a tokenizer is not every text about tokens, nor an accelerator
    every speed-up. Words of an -ize verb keep its "iz" ("visualization", "visualized" ->
    visualiz), where Snowball cuts them down to another word ("visual", "general", "normal");
    so do the words of _OWN_STEM ("continual", "continually" -> continual)."""
    if clipped := _CLIPPED.get(word):
        return word_stems(clipped)
    if own := _OWN_STEM.match(word):
        return (own.group(1),)
    izing = _IZE_FAMILY.match(word)
    root = izing.group(1) if izing else stem(word)
    if _AGENT_NOUN.search(word):
        noun = word.removesuffix("s")
        if len(noun) > len(root):
            return (root, noun)
    return (root,)


def _compound(raw: str) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """The words of a hyphenated token split, and those of it joined (None but for two
    parts): "bi-level" gives (bi, level) and (bilevel,); "GPT-4" (gpt, 4) and (gpt4,), as
    "GPT4"; "text-to-image" (text, image) and None."""
    if raw.lower() == "state-of-the-art":
        # in a quarter of all abstracts, and about no state or art: "state space models" and
        # "generative art" must not match every claim of it
        return ("sota",), None
    parts = raw.split("-")
    split = tuple(w for part in parts for w in _token_words(part))
    whole = "".join(parts)
    if len(parts) == 2 and whole.isalpha():
        return split, _token_words(whole)
    if len(parts) == 2 and whole.isalnum():
        return split, (whole.lower(),)
    return split, None


@lru_cache(maxsize=1 << 18)
def _token_words(raw: str) -> tuple[str, ...]:
    if "-" in raw:
        split, joined = _compound(raw)
        return (*split, *(joined or ()))
    if named := _NAME_NUMBER.fullmatch(raw):  # "CIFAR10" reads as "CIFAR-10", "4bit" "4-bit"
        first, second = (part for part in named.groups() if part)
        return (*_token_words(first), *_token_words(second), raw.lower())
    plural = _ACRONYM_PLURAL.match(raw)
    if plural:
        raw = plural.group(1)
    lower = american(raw.lower())
    if lower in STOP_WORDS or (len(lower) < 2 and not lower.isdigit()):
        return ()
    if len(raw) < 5 or raw.isupper() or raw.islower():
        return (lower,)
    parts = _CAMEL.findall(raw)
    # "KVQuant" -> kv, quant; but "KnoBo" stays whole: a short mixed-case part is a fragment
    if len(parts) > 1 and all(len(p) >= 3 or (len(p) == 2 and p.isupper()) for p in parts):
        return (lower, *(american(p.lower()) for p in parts if p.lower() not in STOP_WORDS))
    return (lower,)


@lru_cache(maxsize=1 << 18)
def _token_stems(raw: str) -> tuple[str, ...]:
    return tuple(s for w in _token_words(raw) for s in word_stems(w))


def _raw_words(text: str) -> list[str]:
    """The text's words as written ("C++" spelled "Cplusplus"), before any folding."""
    if "+" in text or "#" in text:  # rare: most texts skip the substitution
        text = _LANGUAGE.sub(lambda m: m.group(1) + _SPELLED[m.group(2)], text)
    return _WORD.findall(text)


def words(text: str) -> list[str]:
    """Lower-case words of a text without stop words, spelled the American way; CamelCase
    compounds add their parts.

    "KVQuant" gives "kvquant", "kv", "quant"; "LLMs" gives "llm"; "Optimised" "optimized".
    """
    return [w for raw in _raw_words(text) for w in _token_words(raw)]


def compound_forms(text: str) -> list[list[str]]:
    """The words of a query as `words` gives them, but with each two-part hyphen compound
    either split or joined: [bi, level] and [bilevel] for "bi-level". A paper's words hold
    both for its own compounds; one that writes "bi level" or "bilevel" holds one of them,
    and a query that asked for both would match it only in part. One form without such a
    compound."""
    split: list[str] = []
    joined: list[str] = []
    for raw in _raw_words(text):
        apart, together = _compound(raw) if "-" in raw else (_token_words(raw), None)
        split.extend(apart)
        # the joined word alone: split again at its case it would give its parts back
        joined.extend(apart if together is None else together[:1])
    return [split, joined] if joined != split else [split]


def stems(text: str) -> list[str]:
    """The stems of a text's words, in order: what papers and keywords are compared on."""
    return [s for raw in _raw_words(text) for s in _token_stems(raw)]


def pairs(tokens: Sequence[str]) -> list[str]:
    """Adjacent stems joined as phrase features ("kv cach" -> "kv_cach")."""
    return [f"{a}_{b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def features(tokens: Sequence[str]) -> list[str]:
    """Stems and adjacent pairs: the features of a field or of a keyword."""
    return [*tokens, *pairs(tokens)]


# a comma inside brackets lists examples of one keyword: "llm quantization (gptq, awq)";
# a slash with spaces around it parts two keywords ("speech / audio"), one without may join
# the halves of one ("LLM/VLM agents"); so does a search engine's OR, typed in capitals
# (a run of spaces is matched from its start only: a regex that may start anywhere in a long
# run, or that looks ahead to the end for a bracket, costs the square of a form's length)
_SEPARATOR = re.compile(r"[,;|\n]|\s/\s|\sOR\s|(?<!\s)\s++(?=#[^\W\d_])")
# a pasted list's bullet or number ("- kv cache", "2. long context"), never a keyword's word
_LIST_MARKER = re.compile(
    r"^[ \t]*(?:[-*+\u2022\u00b7\u2023\u25aa\u25e6\u2013\u2014]|\(?\d{1,2}[.)])[ \t]+", re.MULTILINE
)
# a label before the list ("My research interests:"), and the words prose puts around a
# keyword ("I am interested in", "especially", "etc."): never what the reader wants matched
_LABEL = re.compile(
    r"^[ \t]*(?:(?:my|our|main|current|research)\s+)*"
    r"(?:interests?|topics?|keywords?|areas?|fields?|subjects?)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_LEAD = re.compile(
    r"^(?:(?:i am|i'm|we are|i|we|and|or|also|plus|mostly|mainly|especially|particularly"
    r"|including|e\.g\.|such as|as well as|interested in|working on|work on|papers on"
    r"|papers about|anything on|anything about|anything related to|things like)\s+)+"
)
_TRAIL = re.compile(
    r"(?:^|\s+)(?:etc|and so on|and so forth|and more|and the like|and others|\.\.\.|\u2026)$"
)
_QUOTED = re.compile(
    r'^(?:"([^"]*)"|\'([^\']*)\'|\u201c([^\u201d]*)\u201d|\u2018([^\u2019]*)\u2019)$'
)


# a search engine's exclusion typed among the keywords: "-medical", "!medical" or "not
# medical" as a keyword of its own, "llm -agents" or "llm NOT agents" (capitals) inside one
_INLINE_NOT = re.compile(r"(?<!\s)\s++(?:(?:AND\s++)?NOT\s++|[-!](?=[^\W\d_]))")
_NEGATED = re.compile(r"^(?:[-!](?=[^\W\d_])|(?:not|without|excluding|except)\s+)")


def split_profile(text: str) -> tuple[list[str], list[str]]:
    """(keywords, excluded keywords) of a text typed as a search engine's query is: what
    `split_keywords` gives, with "-medical" or "llm NOT agents" read as exclusions."""
    wanted: list[str] = []
    unwanted: list[str] = []
    for keyword in split_keywords(_INLINE_NOT.sub(", -", text)):
        negated = _NEGATED.match(keyword)
        if negated is None:
            wanted.append(keyword)
        elif rest := keyword[negated.end() :].strip():
            unwanted.append(rest)
    return wanted, unwanted


def split_keywords(text: str) -> list[str]:
    """`"kv cache, quantization"` -> `["kv cache", "quantization"]`: lower case, without the
    quotes around, a list's bullet or a label before, prose around ("especially", "etc.") or
    a full stop after a keyword, duplicates dropped."""
    seen: dict[str, None] = {}
    text = without_invisible(text)  # pasted from a page: "quanti\u00adzation" is one word
    for part in _split_outside_brackets(_LIST_MARKER.sub("", _LABEL.sub("", text))):
        keyword = " ".join(part.split()).lower().rstrip(".:!?").lstrip("#")
        keyword = _TRAIL.sub("", _LEAD.sub("", keyword)).rstrip(".:!?")
        if quoted := _QUOTED.match(keyword):
            keyword = next(inner for inner in quoted.groups() if inner is not None).strip()
        if keyword:
            seen.setdefault(keyword, None)
    return list(seen)


def _split_outside_brackets(text: str) -> list[str]:
    """The text cut at each separator that is not followed by a closing bracket before an
    opening one (inside brackets a comma lists examples of one keyword)."""
    closing_next = [False] * (len(text) + 1)  # at i: the next bracket from i on closes
    for i in range(len(text) - 1, -1, -1):
        char = text[i]
        closing_next[i] = char in ")]" or (char not in "([" and closing_next[i + 1])
    parts, start = [], 0
    for match in _SEPARATOR.finditer(text):
        if not closing_next[match.end()]:
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return parts


def distinct(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))
