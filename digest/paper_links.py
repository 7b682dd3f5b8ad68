"""The links a digest gives one paper: its best page for the title, then PDF, code, project
page and Hugging Face discussion; a paper known only by its title gets searches. Pure."""

from __future__ import annotations

import re
from urllib.parse import quote_plus

ARXIV_ABS = "https://arxiv.org/abs/{}"
ARXIV_PDF = "https://arxiv.org/pdf/{}"
ARXIV_SEARCH = "https://arxiv.org/search/?searchtype=title&query={}"
HF_SEARCH = "https://huggingface.co/papers?q={}"
HF_PAPERS = "https://huggingface.co/papers/"
SUMMARY_CHARS = 240
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def safe_url(url: str | None) -> str | None:
    """The URL when it is http(s), else None: a listing must not smuggle javascript: links."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None


def best_url(url: str | None, arxiv_id: str | None) -> str | None:
    """Where the title links: the paper's page from its listing, else its arXiv abstract."""
    return safe_url(url) or (ARXIV_ABS.format(arxiv_id) if arxiv_id else None)


def paper_links(
    title: str,
    url: str | None,
    arxiv_id: str | None,
    github_repo: str | None,
    project_page: str | None,
    comments: int | None = None,
) -> list[tuple[str, str]]:
    """(label, url) pairs shown under the title, most useful first."""
    links: list[tuple[str, str]] = []
    page = best_url(url, arxiv_id)
    if arxiv_id:
        links.append(("PDF", ARXIV_PDF.format(arxiv_id)))
        if page != ARXIV_ABS.format(arxiv_id):
            links.append(("arXiv", ARXIV_ABS.format(arxiv_id)))
    if code := safe_url(github_repo):
        links.append(("Code", code))
    if project := safe_url(project_page):
        links.append(("Project page", project))
    if page is not None and is_hf_page(page):
        label = f"HF discussion ({comments})" if comments else "HF discussion"
        links.append((label, page.split("#")[0] + "#community"))
    if page is None:  # known only by its title: let the reader find it
        query = quote_plus(" ".join(title.split()))
        links += [
            ("Search arXiv", ARXIV_SEARCH.format(query)),
            ("Search HF", HF_SEARCH.format(query)),
        ]
    return links


def is_hf_page(url: str | None) -> bool:
    """Whether a URL is a paper's page on Hugging Face."""
    return url is not None and url.startswith(HF_PAPERS)


def summary_and_rest(abstract: str) -> tuple[str | None, str]:
    """The abstract's first sentence as a one-line summary (when it is short enough and more
    follows), and the rest of the abstract."""
    text = " ".join(abstract.split())
    parts = _SENTENCE_END.split(text, maxsplit=1)
    if len(parts) == 2 and 20 <= len(parts[0]) <= SUMMARY_CHARS:
        return parts[0], parts[1]
    return None, text
