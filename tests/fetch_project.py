"""What the `digest fetch` CLI tests share: a project configured with sources served over HTTP,
one listing of every kind, and readers of `papers --json` and `sources --json`."""

from __future__ import annotations

import json
from typing import Any

from conftest import Project, load_source
from fetch_rig import ATOM, CONTACT, HTML, JSON, RSS, TEXT
from fetch_rig import text_listing as saved_listing
from http_server import Reply, ScriptedServer

NOW = "2026-05-08T12:00:00+00:00"
LATER = "2026-05-09T08:00:00+00:00"
LAST = "2026-05-10T08:00:00+00:00"
# An HF paper that the text listing below names by title only (no id, as saved pages do).
HF_TITLE_ONLY = ("2605.04110", "Long-Context Retrieval Heads Are Sparse and Transferable")
TEXT_ONLY_TITLE = "Sparse Probing of Chess Engines for Human-Readable Plans"


def text_listing() -> str:
    """A saved Daily Papers page in layout B: one paper HF also lists, one nobody else does."""
    return saved_listing(
        [
            (
                HF_TITLE_ONLY[1],
                "Retrieval heads are few: we find them with a cheap probe and transfer them "
                "between models of one family.",
            ),
            (
                TEXT_ONLY_TITLE,
                "We train sparse linear probes on the activations of a chess engine and recover "
                "human-readable multi-move plans from a handful of features.",
            ),
        ]
    )


KINDS: dict[str, tuple[str, bytes, str, int, int]] = {  # path, body, type, new, replacements
    "hf-api": ("/api/daily_papers", load_source("hf_api_daily.json"), JSON, 5, 0),
    "hf-page": ("/papers/date/2026-05-08", load_source("hf_page_daily.html"), HTML, 5, 0),
    "arxiv-rss": ("/rss/cs.LG", load_source("arxiv_rss_cs_lg.xml"), RSS, 3, 2),
    "arxiv-atom": ("/atom/cs.LG", load_source("arxiv_atom_cs_lg.xml"), ATOM, 2, 1),
    "text": ("/saved/may-8.txt", text_listing().encode(), TEXT, 2, 0),
}


def configure(project: Project, sources: list[tuple[str, str, str]]) -> None:
    """A config whose [[sources]] are (name, url, kind); fast, unpaced HTTP settings."""
    lines = [
        'database_url = "sqlite:///var/digest.sqlite"',
        'transport = "maildir"',
        'maildir = "var/mail"',
        'base_url = "https://digest.example.org"',
        f"contact_url = {json.dumps(CONTACT)}",
        "http_timeout = 0.5",
        "http_attempts = 3",
        "http_backoff_seconds = 0",
        "host_intervals = {}",
    ]
    for name, url, kind in sources:
        lines += ["[[sources]]", f"name = {json.dumps(name)}"]
        lines += [f"url = {json.dumps(url)}", f"kind = {json.dumps(kind)}"]
    (project.root / "config" / "digest.toml").write_text("\n".join(lines) + "\n")


def serve_kind(server: ScriptedServer, kind: str) -> str:
    path, body, content_type, _, _ = KINDS[kind]
    return server.route(path, Reply(200, body=body, content_type=content_type))


def papers(project: Project) -> dict[str, dict[str, Any]]:
    rows = json.loads(project.ok("papers", "--json", "--limit", "100").out)
    return {row["id"]: row for row in rows}


def sources_json(project: Project) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in json.loads(project.ok("sources", "--json").out)}
