"""British spellings read as American ones, so that a keyword and a paper spelled on either
side of the Atlantic meet: "optimisation" = "optimization", "behaviour" = "behavior".

Only families that differ by spelling alone are folded (-ise/-isation, -yse, -our, -tre,
-ogue and a few single words); a word spelled alike in both (precise, supervise, exercise,
pairwise, noise, hour, genre) is left as it is. Lower-case words in, lower-case words out.
"""

from __future__ import annotations

import re

# root + "is" + ending -> root + "iz" + ending, for a root of three letters or more ending in
# a consonant (not w): "optimis|ed", "regularis|ation"; "noise", "raise" (a vowel),
# "pairwise" (w) and "crises", "disable" (short roots) never match
_ISE = re.compile(
    r"^([a-z]{2,}[b-df-hj-np-tvxz])is"
    r"(e|ed|es|er|ers|ing|ingly|able|ably|ement|ements|ation|ations|ational|ationally)$"
)
# the roots of words whose -ise is the only spelling (from the American English word list:
# root + "ise" is a word there and root + "ize" is not): "supervis|ed" stays
_ISE_ONLY = frozenset(
    """adv advert appr cer chast chem circumc compr comprom conc dem desp dev disenfranch
    disfranch enfranch enterpr exc exerc expert franch imprec improv inc mort parad pract
    prec prem prom repr rev sunr superv surm surpr telev treat upr val""".split()  # noqa: SIM905
)
# roots that take prefixes ("un|superv|ised", "im|prec|ise"); no -ize root ends in one
_PREFIXED = ("adv", "exerc", "prec", "prom", "rev", "superv", "surpr")
_YSE = re.compile(r"^([a-z]+l)ys(e|ed|es|er|ers|ing)$")  # analyse, catalysed, hydrolysing
_OUR = re.compile(
    r"^(behavi|col|fav|lab|neighb|hum|rum|tum|vap|harb|flav|hon|vig|rig|od|arm|endeav|sav"
    r"|parl|clam|cand|ard|ferv|savi|splend|val)our"
)
_TRE = re.compile(r"^(cen|me|li|thea|spec|lus)tre(s|d)?$")
_METRE = re.compile(r"^([a-z]+)metre(s)?$")  # kilometre, nanometres
_OGUE = re.compile(r"^(catal|anal|dial)ogu(e|es|ed|er|ers|ing)$")
_WORDS = {
    "ageing": "aging",
    "aluminium": "aluminum",
    "artefact": "artifact",
    "artefacts": "artifacts",
    "centring": "centering",
    "defence": "defense",
    "defences": "defenses",
    "fibre": "fiber",
    "fibres": "fibers",
    "grey": "gray",
    "judgement": "judgment",
    "judgements": "judgments",
    "licence": "license",
    "licences": "licenses",
    "manoeuvre": "maneuver",
    "manoeuvres": "maneuvers",
    "offence": "offense",
    "programme": "program",
    "programmes": "programs",
    "sulphur": "sulfur",
    "tyre": "tire",
    "tyres": "tires",
}


def american(word: str) -> str:
    """The American spelling of one lower-case word ("optimised" -> "optimized")."""
    if len(word) < 4 or not word.isascii():
        return word
    if (known := _WORDS.get(word)) is not None:
        return known
    if "is" in word and (match := _ISE.match(word)):
        root = match[1]
        if root not in _ISE_ONLY and not root.endswith(_PREFIXED):
            word = f"{root}iz{match[2]}"
    if "our" in word:
        word = _OUR.sub(r"\1or", word)
    if "tre" in word:
        word = _METRE.sub(r"\1meter\2", _TRE.sub(_tre, word))
    if "ys" in word:
        word = _YSE.sub(r"\1yz\2", word)
    if "ogue" in word:
        word = _OGUE.sub(_ogue, word)
    return word


def _ogue(match: re.Match[str]) -> str:
    return f"{match[1]}og{ {'e': '', 'es': 's'}.get(match[2], match[2]) }"


def _tre(match: re.Match[str]) -> str:
    ending = {"s": "s", "d": "ed"}.get(match[2] or "", "")
    return f"{match[1]}ter{ending}"
