"""A digest as the render and mail tests give it: two papers (one with vote links and a liked
paper), an also-trending box, a title full of what HTML must escape, an abstract full of what
quoted-printable must escape; and the email built from a rendered digest."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from digest.mail import build_message
from digest.views import DigestView, PaperView, RenderedDigest

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
NASTY = '<script>alert("x")</script> Tom & Jerry\'s "quoted" <b>bold</b>'


def view(papers: list[PaperView] | None = None) -> DigestView:
    return DigestView(
        email="alice@example.org",
        keywords=["kv cache", "quantization"],
        edition=date(2026, 11, 22),
        papers=papers
        if papers is not None
        else [
            PaperView(
                title="KVQuant: KV Cache Quantization",
                abstract="We quantize the cache. " * 30,
                matched=["kv cache", "quantization"],
                url="https://arxiv.org/abs/2401.18079",
                authors=["Coleman Hooper", "Sehoon Kim", "Hiva Mohammadzadeh", "M. Mahoney"],
                published=date(2024, 1, 31),
                upvotes=12,
            ),
            PaperView(
                title="SCBench",
                abstract="A KV cache-centric benchmark.",
                matched=["kv cache"],
                author_count=9,
                organization="Microsoft",
                more_url="https://digest.example.org/vote/MORE",
                less_url="https://digest.example.org/vote/LESS",
                similar_to_title="MatryoshkaKV: Adaptive KV Compression via Trainable Orthogonal"
                " Projection",
            ),
        ],
        unsubscribe_url="https://digest.example.org/unsubscribe/TOKEN",
        preferences_url="https://digest.example.org/preferences/TOKEN",
        also_trending=[
            PaperView(
                title="Moshi: a speech-text foundation model",
                abstract="Real-time dialogue.",
                matched=[],
                upvotes=80,
                more_url="https://digest.example.org/vote/MORE2",
                less_url="https://digest.example.org/vote/LESS2",
            )
        ]
        if papers is None
        else [],
    )


# long enough to be encoded once and kept, with what quoted-printable must escape
LONG_ABSTRACT = (
    "Ünïcode π-flows = 3 … with trailing spaces   \n. \n"
    + "A sentence that goes on about kv caches and their discontents. " * 12
    + "\t tab = equals."
)


def message_of(rendered: RenderedDigest, **extra: Any) -> bytes:
    """The email of a rendered digest, its text part encoded from its pieces if it has them."""
    fields: dict[str, Any] = {
        "sender": "d@example.org",
        "to": "a@example.org",
        "message_id": "<m@example.org>",
        "date": datetime(2026, 11, 22, tzinfo=UTC),
        **extra,
    }
    return build_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        text_pieces=rendered.text_pieces,
        **fields,
    )
