"""Benchmark stages 3 and 4: rendering digests, and sending them against a bare client."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import sinks
import synth
from stage import HOST, NOW, SENDER, TODAY, Figure, Sizes, StageResult, log, profiled

if TYPE_CHECKING:
    from digest.mail.dkim import DkimSigner
    from digest.views import DigestView

# stage 3: render ------------------------------------------------------------------------


def digest_views(count: int, seed: int = 3) -> list[DigestView]:
    """`count` digests of 10 papers each with realistic (long) abstracts and links."""
    from digest.views import DigestView, PaperView

    rng = random.Random(seed)
    pool = [synth.make_paper(rng, 100_000 + i, sentences=12) for i in range(200)]
    views = []
    for number in range(count):
        chosen = rng.sample(pool, 10)
        keywords = list(dict.fromkeys(k for p in chosen[:3] for k in p.keywords[:1]))
        papers = [
            PaperView(
                title=p.title,
                abstract=p.abstract,
                matched=list(p.keywords[:2]),
                url=f"https://arxiv.org/abs/2506.{rng.randint(0, 99_999):05d}",
                authors=synth.authors(rng),
                organization=rng.choice((None, "Google DeepMind", "Tsinghua University")),
                published=date(2025, 5, rng.randint(1, 31)),
                upvotes=rng.randint(0, 250),
            )
            for p in chosen
        ]
        token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789-_", k=120))
        views.append(
            DigestView(
                email=f"reader{number}@example.org",
                keywords=keywords,
                edition=TODAY,
                papers=papers,
                unsubscribe_url=f"https://digest.example.org/unsubscribe?t={token}",
                preferences_url=f"https://digest.example.org/preferences?t={token}",
            )
        )
    return views


def build_email(view: DigestView, subject: str, text: str, html: str, number: int) -> bytes:
    """The full multipart email, as sent, for one rendered digest."""
    from digest.mail import build_message
    from digest.mail.addresses import unsubscribe_address
    from digest.models import new_public_id

    return build_message(
        sender=SENDER,
        to=view.email,
        subject=subject,
        text=text,
        html=html,
        message_id=f"<digest-{number}-{TODAY.isoformat()}@papers-digest>",
        date=NOW,
        unsubscribe_url=view.unsubscribe_url,
        unsubscribe_mailto=unsubscribe_address(
            b"bench-key", "papers-digest.example", new_public_id()
        ),
    )


def dkim_signer() -> DkimSigner:
    """A signer with a fresh 2,048-bit RSA key, as deploy.md tells operators to make."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from digest.mail.dkim import DkimSigner

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DkimSigner(pem, "digest", "papers-digest.example")


def stage_render(sizes: Sizes, profile: bool) -> StageResult:
    """Digests rendered per second on one core, and how big the email gets."""
    from digest.render import Renderer

    views = digest_views(min(sizes.render_digests, 500))
    renderer = Renderer()
    for view in views[:20]:  # warm up jinja2's compiled templates and caches
        renderer.render(view)
    n = sizes.render_digests
    with profiled(profile, "render"):
        t0 = time.perf_counter()
        rendered = [renderer.render(views[i % len(views)]) for i in range(n)]
        render_s = time.perf_counter() - t0
    html_kb = [len(r.html.encode()) / 1024 for r in rendered[: len(views)]]
    text_kb = [len(r.text.encode()) / 1024 for r in rendered[: len(views)]]
    m = len(views)  # emails are built for each distinct view only: they are slower
    t0 = time.perf_counter()
    messages = [
        build_email(views[i], r.subject, r.text, r.html, i) for i, r in enumerate(rendered[:m])
    ]
    build_s = time.perf_counter() - t0
    mail_kb = [len(b) / 1024 for b in messages]
    signer = dkim_signer()
    t0 = time.perf_counter()
    for raw in messages:
        signer.sign(raw)
    sign_s = time.perf_counter() - t0
    rate = n / render_s
    whole = 1 / (render_s / n + build_s / m)
    result = StageResult("render")
    result.figures = [
        Figure("digests/s, one core (html + text)", rate, "digests/s", ">= 1,000", rate >= 1_000),
        Figure("html part, 10 papers (max)", max(html_kb), "KB", "<= 60 KB", max(html_kb) <= 60),
        Figure("  text part, 10 papers (max)", max(text_kb), "KB"),
        Figure("  whole email as sent (max)", max(mail_kb), "KB"),
        Figure("  build_message() rate (bytes as sent)", m / build_s, "msgs/s"),
        Figure("  render + build rate", whole, "msgs/s"),
        Figure("  DKIM signing, 2,048-bit RSA key (with a key configured)", m / sign_s, "msgs/s"),
    ]
    result.details = {
        "digests": n,
        "distinct_views": m,
        "emails_built": m,
        "render_seconds": round(render_s, 3),
        "build_message_seconds": round(build_s, 3),
        "dkim_sign_seconds": round(sign_s, 3),
        "html_kb_mean": round(sum(html_kb) / len(html_kb), 2),
        "text_kb_mean": round(sum(text_kb) / len(text_kb), 2),
        "email_kb_mean": round(sum(mail_kb) / len(mail_kb), 2),
    }
    return result


# stage 4: send --------------------------------------------------------------------------


def stage_send(sizes: Sizes, profile: bool) -> StageResult:
    """SmtpTransport vs a bare aiosmtplib client, same bytes, same local sink."""
    import e2e

    from digest.mail import Outcome, outgoing
    from digest.mail.smtp import SmtpSettings, SmtpTransport
    from digest.render import Renderer

    n = sizes.send_messages
    views = digest_views(min(n, 500), seed=4)
    renderer = Renderer()
    batch = []
    for i in range(n):
        view = views[i % len(views)]
        view.email = f"reader{i}@example.org"
        r = renderer.render(view)
        batch.append(
            outgoing(i, build_email(view, r.subject, r.text, r.html, i), SENDER, view.email)
        )
    bytes_only = [(o.sender, o.recipient, o.raw) for o in batch]  # what the bare client sends
    sink = sinks.open_sink(log)
    port = sink.port

    def through_transport(connections: int) -> list[Outcome]:
        transport = SmtpTransport(SmtpSettings(HOST, port, connections=connections))
        try:
            return transport.send(batch)
        finally:
            transport.close()  # QUIT on each connection, as a send run ends

    def timed(run: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        run()
        return time.perf_counter() - t0

    bare: list[float] = []
    bare4: list[float] = []
    single: list[float] = []
    transport: list[float] = []
    failures = 0
    try:
        timed(lambda: asyncio.run(e2e.bare_pool(port, bytes_only[: min(n, 100)], 1)))  # warm up
        for _ in range(sizes.send_rounds):
            bare.append(timed(lambda: asyncio.run(e2e.bare_pool(port, bytes_only, 1))))
            bare4.append(timed(lambda: asyncio.run(e2e.bare_pool(port, bytes_only, 4))))
            single.append(timed(lambda: through_transport(1)))
            with profiled(profile and not transport, "send"):
                t0 = time.perf_counter()
                outcomes = through_transport(4)
                transport.append(time.perf_counter() - t0)
            failures += sum(1 for o in outcomes if not o.sent)
    finally:
        received = sink.stop()
    bare_rate, single_rate = n / min(bare), n / min(single)
    bare4_rate, transport_rate = n / min(bare4), n / min(transport)
    ratio = transport_rate / bare4_rate
    result = StageResult("send")
    result.figures = [
        Figure(
            "SmtpTransport / bare client (4 connections each)",
            ratio * 100,
            "%",
            ">= 90 %",
            ratio >= 0.9,
        ),
        Figure("  bare aiosmtplib sendmail(), one connection", bare_rate, "msgs/s"),
        Figure("  SmtpTransport, 1 connection", single_rate, "msgs/s"),
        Figure("  bare aiosmtplib sendmail(), 4 connections", bare4_rate, "msgs/s"),
        Figure("  SmtpTransport, 4 connections", transport_rate, "msgs/s"),
    ]
    result.details = {
        "messages": n,
        "rounds": sizes.send_rounds,
        "bare_seconds": [round(s, 3) for s in bare],
        "bare_4_connections_seconds": [round(s, 3) for s in bare4],
        "single_connection_seconds": [round(s, 3) for s in single],
        "transport_seconds": [round(s, 3) for s in transport],
        "transport_failures": failures,
        "sink_received": received,
        "message_kb_mean": round(sum(len(o.raw) for o in batch) / n / 1024, 2),
        "sink": sink.name,
    }
    return result


# driver ---------------------------------------------------------------------------------
