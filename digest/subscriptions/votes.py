"""What people type to name a paper (an id, an arXiv id or URL, a title) -> papers in the
history; every reference is checked before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from digest.errors import NotFoundError, ValidationError
from digest.ingest.identity import normalise_title
from digest.models import Paper
from digest.sources.base import ARXIV_ID
from digest.store import Store

_ID = rf"({ARXIV_ID})(?:v\d+)?"
# what names an arXiv id wherever it stands: "arXiv:" (the citation form), its DOI, the URL
# of its page on arxiv.org (abs, pdf, html; any host such as export.) or Hugging Face
_NAMED = (
    r"(?:arxiv:\s*"
    r"|(?:doi:\s*|(?:https?://)?(?:dx\.)?doi\.org/)?10\.48550/arxiv\."
    r"|(?:https?://)?(?:[a-z0-9-]+\.)*(?:arxiv\.org/(?:abs|pdf|html)|huggingface\.co/papers)/)"
)
# a reference that is one id: named so or bare, with angle brackets, a query or a fragment
_ARXIV = re.compile(rf"^<?{_NAMED}?{_ID}(?:\.pdf)?/?(?:[?#][^\s>]*)?>?$", re.IGNORECASE)
# an id named inside a longer text: a citation ("Vaswani et al. ... arXiv:1706.03762, 2017"),
# an arXiv page's title ("[1706.03762] Attention Is All You Need")
_CITED = re.compile(rf"(?:(?<![\w.-]){_NAMED}|^\[){_ID}(?![\w/])", re.IGNORECASE)
MAX_REFS = 100


def paper_key(ref: str) -> str | None:
    """The paper id a reference names directly, or None when it can only be a title."""
    text = ref.strip()
    if text.startswith("title:"):
        return text
    match = _ARXIV.match(text)
    if match:
        return f"arxiv:{_canonical(match.group(1))}"
    cited = {_canonical(m.group(1)) for m in _CITED.finditer(text)}
    return f"arxiv:{cited.pop()}" if len(cited) == 1 else None


def _canonical(arxiv_id: str) -> str:
    """An arXiv id as listings give it: an old-style archive in lower case, its subject
    class in upper case ("math.AG/0101001")."""
    if "/" not in arxiv_id:
        return arxiv_id
    archive, number = arxiv_id.split("/")
    name, dot, subject = archive.partition(".")
    return f"{name.lower()}{dot}{subject.upper()}/{number}"


def resolve_papers(store: Store, refs: Sequence[str]) -> list[Paper]:
    """The papers these references name (ids, arXiv ids or URLs, or a whole title), as the
    command line takes them: the first that names none raises an error naming it."""
    found, missing = lookup_papers(store, refs, titles=True)
    if missing:
        ref = missing[0]
        if paper_key(ref) is None:
            meant = whole_titles(store, [ref]).get(ref)
            hint = (
                f"did you mean {meant[:100]!r}?"
                if meant
                else "`digest papers --search WORDS` finds a paper by words of its title"
            )
            raise NotFoundError(
                f"no paper has the id or title {ref[:80]!r}: give the id from `digest papers "
                f"--json` (arxiv:2405.12345 or title:...), an arXiv id, or a whole title; {hint}"
            )
        raise NotFoundError(f"no paper {ref[:80]!r} in the history: see `digest papers`")
    return found


def one_vote_each(groups: Mapping[str, Sequence[Paper]]) -> None:
    """ValidationError naming a paper given under two options (--like and --dislike): which
    one was meant cannot be guessed."""
    first: dict[str, str] = {}
    for option, papers in groups.items():
        for paper in papers:
            if first.setdefault(paper.id, option) != option:
                raise ValidationError(
                    f"{paper.id} ({paper.title[:60]}) is given to both {first[paper.id]} and "
                    f"{option}: give it once"
                )


def lookup_papers(
    store: Store, refs: Sequence[str], titles: bool = False
) -> tuple[list[Paper], list[str]]:
    """The papers these references name, and the references (stripped, in order) that name
    none in the history; more than MAX_REFS references is an error."""
    refs = [r for r in (ref.strip() for ref in refs) if r]
    if len(refs) > MAX_REFS:
        raise ValidationError(f"too many papers at once: {len(refs)}, at most {MAX_REFS}")
    keys = {ref: paper_key(ref) for ref in refs}
    known = store.papers.by_ids([k for k in keys.values() if k])
    by_title = (
        store.papers.by_titles([normalise_title(r) for r, k in keys.items() if k is None])
        if titles
        else {}
    )
    found: dict[str, Paper] = {}
    missing: list[str] = []
    for ref, key in keys.items():
        paper = known.get(key) if key else by_title.get(normalise_title(ref))
        if paper is None:
            missing.append(ref)
        else:
            found.setdefault(paper.id, paper)  # two references to one paper: one vote
    return list(found.values()), missing


def whole_titles(store: Store, refs: Sequence[str], most: int = 10) -> dict[str, str]:
    """For the first `most` references that are no id and part of exactly one title in the
    history (each of its words, in any case), that whole title: what someone who typed part
    of a title means."""
    found: dict[str, str] = {}
    for ref in [r for r in refs if paper_key(r) is None][:most]:
        words = normalise_title(ref).split()
        matches = store.papers.newest(limit=2, words=words) if words else []
        if len(matches) == 1:
            found[ref] = matches[0].title
    return found


def not_found(refs: Sequence[str], shown: int = 3) -> str:
    """One line, for a reader, naming references that name no paper (the first `shown`)."""
    names = ", ".join(repr(ref[:80]) for ref in refs[:shown])
    more = f" and {len(refs) - shown} more" if len(refs) > shown else ""
    return (
        f"Not in the history: {names}{more} (only papers that this service's listings have "
        "shown can be named)."
    )
