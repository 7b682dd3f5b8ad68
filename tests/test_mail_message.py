"""Building the email of a digest and writing it: MIME parts and their encodings read back
exactly, list headers, non-ASCII headers, the Maildir transport."""

from __future__ import annotations

import os
import stat
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from html import unescape
from pathlib import Path

import pytest
from digest_view import message_of, view

from digest.errors import TransportError
from digest.mail import MaildirTransport, build_message, outgoing
from digest.render import Renderer
from digest.views import PaperView


@pytest.mark.parametrize("skeletons", [True, False])
def test_a_cut_abstract_keeps_the_text_part_ascii_and_sent_as_it_is(skeletons: bool) -> None:
    """The ellipsis of a cut is three dots in the text part and a byline's parts are joined
    by a bar (the HTML keeps both characters): with them a digest's text part is ASCII and
    needs no quoted-printable. A paper's own letters stay as they are."""
    long = PaperView(
        title="Cut",
        abstract="word " * 200,
        matched=["kv cache"],
        author_count=3,
        published=date(2026, 11, 1),
        upvotes=4,
    )
    accented = PaperView(title="Métriques…", abstract="é " * 200, matched=["kv cache"])
    renderer = Renderer(skeletons=skeletons)
    for papers, text_cte in (([long], "7bit"), ([long, accented], "quoted-printable")):
        rendered = renderer.render(view(papers))
        assert "word..." in rendered.text and "…" not in rendered.text
        assert "3 authors | 1 Nov 2026 | 4 upvotes" in rendered.text
        assert "word&#8230;" in rendered.html or "word…" in rendered.html
        assert "3 authors &#183; 1 Nov 2026" in rendered.html or "3 authors · 1" in rendered.html
        parsed = message_from_bytes(two_parts(rendered.text, rendered.html), policy=policy.default)
        plain = parsed.get_body(("plain",))
        assert plain is not None and plain["Content-Transfer-Encoding"] == text_cte
        assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert "Métriques..." in rendered.text and "é é" in rendered.text


def test_message_is_multipart_alternative_with_list_headers() -> None:
    rendered = Renderer().render(view())
    message = build_message(
        sender="Digest <digest@example.org>",
        to="alice@example.org",
        subject=rendered.subject + "\r\nBcc: victim@example.org",
        text=rendered.text,
        html=rendered.html,
        message_id="<digest-1-2026-11-22@example.org>",
        date=datetime(2026, 11, 22, 8, tzinfo=UTC),
        unsubscribe_url="https://digest.example.org/unsubscribe/TOKEN",
        unsubscribe_mailto="mailto:unsubscribe@example.org?subject=unsubscribe",
    )
    parsed = message_from_bytes(message, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Bcc"] is None
    assert "\n" not in parsed["Subject"]
    assert parsed["List-Unsubscribe"] == (
        "<https://digest.example.org/unsubscribe/TOKEN>, "
        "<mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Date"] == "Sun, 22 Nov 2026 08:00:00 +0000"
    assert parsed["Message-ID"] == "<digest-1-2026-11-22@example.org>"


def test_maildir_transport_writes_readable_messages(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "mail")
    rendered = Renderer().render(view())
    message = message_of(rendered, message_id="<m1@example.org>", unsubscribe_url="https://u")
    outcomes = transport.send([outgoing(7, message, "d@example.org", "a@example.org")])
    assert [(o.delivery_id, o.sent) for o in outcomes] == [(7, True)]
    [path] = list((tmp_path / "mail" / "new").iterdir())
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == rendered.subject
    assert transport.count() == 1


def test_a_maildir_made_here_is_its_owners_alone(tmp_path: Path) -> None:
    """Digests carry their readers' signed links: a new Maildir is 0700 and its messages
    0600 whatever the umask; a Maildir the operator shares with a group (0750) gets 0640."""
    old = os.umask(0o022)
    try:
        transport = MaildirTransport(tmp_path / "var" / "mail")
        raw = message_of(Renderer().render(view()), message_id="<m@x>", unsubscribe_url="https://u")
        transport.send([outgoing(1, raw, "d@example.org", "a@example.org")])
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "var" / "mail").iterdir()
        }
        assert modes == {"tmp": 0o700, "new": 0o700, "cur": 0o700}
        assert stat.S_IMODE((tmp_path / "var" / "mail").stat().st_mode) == 0o700
        [message] = (tmp_path / "var" / "mail" / "new").iterdir()
        assert stat.S_IMODE(message.stat().st_mode) == 0o600
        shared = tmp_path / "shared"
        for folder in ("tmp", "new", "cur"):
            (shared / folder).mkdir(parents=True)
            (shared / folder).chmod(0o750)
        MaildirTransport(shared).send([outgoing(2, raw, "d@example.org", "a@example.org")])
        [message] = (shared / "new").iterdir()
        assert stat.S_IMODE(message.stat().st_mode) == 0o640
        assert stat.S_IMODE((shared / "new").stat().st_mode) == 0o750  # left as it was
    finally:
        os.umask(old)


def test_maildir_in_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TransportError, match="cannot open Maildir"):
        MaildirTransport(blocker / "mail")


def test_non_ascii_subject_and_sender_name_are_encoded_and_read_back() -> None:
    raw = build_message(
        sender="Dïgest Bot <digest@example.org>",
        to="a@example.org",
        subject="Papers digest: 3 new papers on métriques, …",
        text="héllo " * 40,
        html="<p>héllo</p>",
        message_id="<m2@example.org>",
        date=datetime(2026, 11, 22, tzinfo=UTC),
    )
    assert raw.isascii() and b"\r\n" in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Papers digest: 3 new papers on métriques, …"
    assert parsed["From"] == "Dïgest Bot <digest@example.org>"
    assert parsed.get_body(("plain",)).get_content() == "héllo " * 40  # type: ignore[union-attr]


def two_parts(text: str, html: str) -> bytes:
    """A message with these two parts and plain headers."""
    return build_message(
        sender="d@example.org",
        to="a@example.org",
        subject="s",
        text=text,
        html=html,
        message_id="<m4@example.org>",
        date=datetime(2026, 11, 22, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("text", "html", "text_cte", "html_cte"),
    [
        ("plain ascii", "<p>plain ascii</p>", "7bit", "7bit"),
        ("π-Flow", "<p>π-Flow</p>", "quoted-printable", "7bit"),  # &#960; in the HTML
        ("x" * 999, "<p>" + "x" * 999 + "</p>", "quoted-printable", "quoted-printable"),
        ("x" * 998, "<p>" + "x" * 991 + "</p>", "7bit", "7bit"),  # the longest 7bit lines
        ("a\n" * 600 + "x" * 999, "<p>ok</p>", "quoted-printable", "7bit"),  # a long last line
        ("y" * 900 + "\n" + "x" * 998 + "\nz", "<p>ok</p>", "7bit", "7bit"),
        ("a lone\rcarriage return", "<p>ok</p>", "quoted-printable", "7bit"),
    ],
)
def test_each_part_is_sent_as_is_when_7bit_allows_it_and_reads_back_the_same(
    text: str, html: str, text_cte: str, html_cte: str
) -> None:
    raw = two_parts(text, html)
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    plain, rich = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain["Content-Transfer-Encoding"] == text_cte
    assert rich["Content-Transfer-Encoding"] == html_cte
    assert plain.get_content().replace("\r\n", "\n") == text
    assert unescape(rich.get_content()) == html


@pytest.mark.parametrize(
    "text",
    [
        "π " + "x = 1 " * 120 + "\n. \nline \n" + "y\t" * 300 + "\n\nend",
        "π " + "x" * 600 + "\r\nCRLF given\n" + "z" * 600 + "\rlone CR\n",
    ],
)
def test_a_text_in_pieces_is_encoded_as_the_whole_text(text: str) -> None:
    """However the text is cut into pieces (long ones kept, cut mid-line or at line ends),
    and whether or not it holds CRs, its part is the whole text's, byte for byte."""
    from digest.mail.mime import _part

    whole = _part(text, html=False)
    for size in (1, 7, 513, 700, len(text)):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert _part(text, html=False, pieces=pieces) == whole
    assert whole[0] == b"quoted-printable"


@pytest.mark.parametrize("text", ["one\r\ntwo\n", "π one\r\ntwo\n"])
def test_crlf_line_ends_given_to_a_part_stay_single(text: str) -> None:
    raw = two_parts(text, "<p>π</p>\r\n<p>two</p>")
    assert b"\r\r" not in raw
    parsed = message_from_bytes(raw, policy=policy.default)
    plain, rich = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content().replace("\r\n", "\n") == text.replace("\r\n", "\n")
    assert unescape(rich.get_content()).replace("\r\n", "\n") == "<p>π</p>\n<p>two</p>"


def test_maildir_in_an_existing_empty_directory_works(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    transport = MaildirTransport(tmp_path / "mail")
    raw = build_message(
        sender="d@example.org",
        to="a@example.org",
        subject="s",
        text="t",
        html="<p>h</p>",
        message_id="<m3@example.org>",
        date=datetime(2026, 11, 22, tzinfo=UTC),
    )
    [outcome] = transport.send([outgoing(1, raw, "d@example.org", "a@example.org")])
    assert outcome.sent and transport.count() == 1


def test_quoted_printable_of_plain_lines_is_what_the_standard_encoder_gives() -> None:
    """The readers' lines of a digest are encoded without binascii when they only need "="
    escaped and long lines broken: byte for byte what b2a_qp gives, for 20,000 seeded
    random texts of the characters that matter (a lone ".", "=", spaces, long lines)."""
    import binascii
    import random

    from digest.mail.mime import CRLF, _plain_qp, _qp_lines

    rng = random.Random(20261206)
    alphabet = "ab =.\n-xyz09"
    taken = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        if rng.random() < 0.5:
            text = text.replace(" ", "a")
        if rng.random() < 0.5:
            text = text.replace("=", "b")
        standard = binascii.b2a_qp(text.encode(), quotetabs=False, istext=True, header=False)
        assert _qp_lines(text) == standard.replace(b"\n", CRLF), text
        taken += _plain_qp(text) is not None
    assert taken > 10_000  # the plain path was tried, not only the fallback
    for length in range(60, 240):  # every break position of a long line
        line = "x" * length
        expected = binascii.b2a_qp(line.encode(), istext=True).replace(b"\n", CRLF)
        assert _plain_qp(line) == expected


def test_html_text_is_escaped_ascii_html_whatever_the_value() -> None:
    """Values that need no escaping skip it; the html is the same either way."""
    import random

    from markupsafe import escape

    from digest.skeleton import ascii_html, html_text

    rng = random.Random(7)
    alphabet = "ab &<>\"'π…=/:.-"
    for _ in range(5_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert html_text(value) == ascii_html(escape(value))
    link = "https://d.example/vote/v3.abc_-x.y/more"
    assert html_text(link) is link  # as it is: nothing to escape
