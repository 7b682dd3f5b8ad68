"""The whole path, as an operator runs it: fetch, subscribe, run, over real SMTP and Maildir."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from conftest import Inbox, Project

NOW = "2026-11-22T12:00:00+00:00"
PEOPLE = {
    "alice@example.org": ("kv cache, quantization", "Europe/Berlin"),
    "bob@example.org": ("diffusion models", "America/New_York"),
    "carol@example.org": ("galaxies, cosmology", "Asia/Kolkata"),
}


def add_people(project: Project) -> None:
    for email, (keywords, tz) in PEOPLE.items():
        project.ok(
            "subscribers",
            "add",
            email,
            "--keywords",
            keywords,
            "--timezone",
            tz,
            "--send-at",
            "06:00",
            "--max-papers",
            "5",
        )


def test_smtp_each_subscriber_gets_one_multipart_digest_matching_their_keywords(
    project: Project, smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtp_server
    monkeypatch.setenv("DIGEST_TRANSPORT", "smtp")
    monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(port))
    monkeypatch.setenv("DIGEST_FROM", "Digest <digest@example.org>")
    add_people(project)

    result = project.ok("run", "--now", NOW)

    assert "3 sent" in result.out
    assert len(inbox.messages) == 3
    for email, (keywords, _tz) in PEOPLE.items():
        [message] = inbox.to(email)
        assert message.get_content_type() == "multipart/alternative"
        parts = [part.get_content_type() for part in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert message["From"] == "Digest <digest@example.org>"
        assert message["To"] == email
        assert message["Message-ID"] and message["Date"]
        assert message["List-Unsubscribe"].startswith("<https://digest.example.org/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        wanted = [k.strip() for k in keywords.split(",")]
        reasons = [
            line.split(":", 1)[1]
            for line in text.splitlines()
            if line.strip().startswith("Why you got this:")
        ]
        assert 1 <= len(reasons) <= 5
        for reason in reasons:
            assert any(k in reason for k in wanted), (email, reason)


def test_run_twice_second_ingests_nothing_and_sends_nothing(project: Project) -> None:
    add_people(project)
    first = project.ok("run", "--now", NOW)
    assert "393 new papers" in first.out
    assert "3 sent" in first.out
    assert len(project.mails()) == 3

    second = project.ok("run", "--now", "2026-11-22T13:00:00+00:00")

    assert "0 new papers, nothing new" in second.out
    assert "0 sent" in second.out
    assert len(project.mails()) == 3
    assert project.query("select count(*) from paper") == [(393,)]
    assert project.query("select count(*) from delivery") == [(3,)]


def test_next_day_without_new_papers_sends_nothing_and_records_skip(project: Project) -> None:
    add_people(project)
    project.ok("run", "--now", NOW)
    result = project.ok("run", "--now", "2026-11-23T12:00:00+00:00")
    assert "3 skipped" in result.out
    assert len(project.mails()) == 3
    assert project.query("select status, count(*) from delivery group by status") == [
        ("sent", 3),
        ("skipped", 3),
    ]


def test_not_due_before_local_send_time(project: Project) -> None:
    project.ok("fetch", "--now", NOW)
    project.ok(
        "subscribers",
        "add",
        "dan@example.org",
        "--keywords",
        "diffusion models",
        "--timezone",
        "Pacific/Honolulu",
        "--send-at",
        "08:00",
    )
    # 12:00 UTC is 02:00 in Honolulu: not yet
    early = project.ok("send", "--now", NOW)
    assert "0 subscribers due" in early.out
    # 18:30 UTC is 08:30 in Honolulu: due
    later = project.ok("send", "--now", "2026-11-22T18:30:00+00:00")
    assert "1 sent" in later.out
    [mail] = project.mails()
    assert mail["Subject"].startswith("Papers digest 22 Nov 2026:")


def test_preview_renders_without_sending(project: Project) -> None:
    add_people(project)
    project.ok("fetch", "--now", NOW)
    out = project.root / "preview.html"
    result = project.ok("preview", "alice@example.org", "--out", str(out), "--now", NOW)
    assert result.out.endswith(f" papers; HTML written to {out}\n")  # the HTML alone
    printed = project.ok("preview", "alice@example.org", "--now", NOW).out  # or the text
    assert printed.startswith("Subject: Papers digest 22 Nov 2026: ") and "Why you got" in printed
    html = out.read_text()
    assert "Why you got this" in html and "kv cache" in html.lower()
    # it holds the reader's own preferences, unsubscribe and vote links: the owner's alone
    assert "/preferences/" in html and out.stat().st_mode & 0o777 == 0o600
    assert project.mails() == []
    assert project.query("select count(*) from delivery") == [(0,)]
    assert result.err == ""  # alice is active: her digest would go out


def test_preview_of_a_subscriber_who_gets_nothing_now_says_why(project: Project) -> None:
    """The preview looked like a digest on its way to someone paused or suppressed."""
    add_people(project)
    project.ok("fetch", "--now", NOW)
    project.ok("subscribers", "edit", "alice@example.org", "--timezone", "Europe/Berlin")
    for email in ("alice@example.org", "bob@example.org"):
        project.ok("subscribers", "pause", email)
    # as `pause --until 2026-12-20` stores it (a day ahead of the real clock's today):
    # the start of Berlin's 20 December, in UTC the 19th
    project.query(
        "update subscriber set paused_until = '2026-12-19 23:00:00.000000' "
        "where email = 'alice@example.org'"
    )
    paused = project.ok("preview", "alice@example.org", "--now", NOW)
    assert paused.out.startswith("Subject: ")  # the digest is still shown
    assert paused.err == (
        "note: alice@example.org is paused until Sunday 20 December 2026: this digest would "
        "not be sent now\n"
    )
    bob = project.ok("preview", "bob@example.org", "--now", NOW).err
    assert "bob@example.org is paused: this digest would not be sent now" in bob
    project.ok("subscribers", "resume", "bob@example.org")
    project.ok("suppression", "add", "bob@example.org")
    assert "is on the suppression list" in project.ok("preview", "bob@example.org").err


def test_a_preview_after_the_digest_went_out_says_it_starts_after_it(project: Project) -> None:
    """It said only "nothing new", as if no paper matched the topics."""
    add_people(project)
    project.ok("run", "--now", NOW)
    after = project.ok("preview", "alice@example.org", "--now", NOW)
    assert "nothing new" in after.out
    assert after.err.startswith("note: nothing new since the digest planned 2026-11-22 ")


def test_send_empty_setting_sends_a_nothing_new_note_instead_of_skipping(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_people(project)
    project.ok("run", "--now", NOW)
    monkeypatch.setenv("DIGEST_SEND_EMPTY", "true")
    result = project.ok("run", "--now", "2026-11-23T12:00:00+00:00")
    assert "3 sent" in result.out
    notes = [m for m in project.mails() if "23 Nov 2026" in m["Subject"]]
    assert len(notes) == 3 and len(project.mails()) == 6
    assert all("nothing new on" in m["Subject"] for m in notes)


def test_a_digest_from_real_hf_and_arxiv_listings_links_and_reads_well(project: Project) -> None:
    """Real-format listings in, one email out: PDF, code, project and HF links, author
    names, a summary line, and LaTeX turned into Unicode (no `$` or backslash left)."""
    sources = Path(__file__).resolve().parent / "fixtures" / "sources"
    now = "2026-05-08T12:00:00+00:00"
    project.ok("fetch", "--kind", "hf-api", str(sources / "hf_api_daily.json"), "--now", now)
    project.ok("fetch", "--kind", "arxiv-rss", str(sources / "arxiv_rss_cs_lg.xml"), "--now", now)
    project.ok(
        "subscribers", "add", "reader@example.org",
        "--keywords", "mixture of experts, flow matching, greedy exploration",
        "--send-at", "00:00",
    )  # fmt: skip
    project.ok("run", "--now", now)
    [mail] = project.mails()
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for part in (text, unescape(html)):  # the HTML part writes non-ASCII as character refs
        assert "https://arxiv.org/pdf/2605.05242" in part
        assert "https://github.com/open-lab/capacity-moe" in part
        assert "https://open-lab.github.io/capacity-moe/" in part
        assert "https://huggingface.co/papers/2605.05242#community" in part
        assert "Maya Okonkwo" in part
        assert "π-Flow" in part and "DeepSea" in part
        assert "\\pi" not in part and "\\epsilon" not in part and "$" not in part
    assert "PDF: https://arxiv.org/pdf/2605.04871" in text
    assert '<p class="summary"' in html
    # HF's own one-line summary, the discussion's size, upvotes with the day's trending mark
    assert "Learned per-layer capacity budgets reduce dropped tokens" in text
    assert "HF discussion (4)" in text

    def paper(title: str) -> str:  # a paper's heading lines in the body (not the list on top)
        match = re.search(rf"^\d+\. [^\n]*{re.escape(title)}.*?\n\n", text, re.M | re.S)
        assert match, title
        return match.group(0)

    assert "87 upvotes | trending" in paper("Capacity-Aware Routing")
    assert "41 upvotes" in paper("Flow: Policy Distillation")
    assert "trending" not in paper("Flow: Policy Distillation")  # half the top's votes: not
    assert "cs.CV, cs.LG" in paper("Flow: Policy Distillation")  # arXiv's categories


def test_a_weekly_digest_is_headed_and_worded_as_a_week(project: Project) -> None:
    """A weekly reader's digest holds a week of papers: its subject and heading say so (a
    daily reader's are unchanged), and so does its "also trending" box."""
    from datetime import date

    from digest.render import Renderer
    from digest.views import DigestView, PaperView

    project.ok("fetch", "--now", NOW)
    for email, how in (("week@example.org", "weekly"), ("day@example.org", "daily")):
        day = ["--weekly-day", "sunday"] if how == "weekly" else []  # 22 November 2026
        project.ok(
            "subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00",
            "--frequency", how, *day,
        )  # fmt: skip
    project.ok("send", "--now", NOW)
    sent = {m["To"]: m for m in project.mails()}
    weekly, daily = sent["week@example.org"], sent["day@example.org"]
    assert weekly["Subject"].startswith("Weekly papers digest 22 Nov 2026: ")
    text = weekly.get_body(("plain",)).get_content()
    assert text.startswith("Your weekly papers digest, the week to Sunday 22 November 2026")
    assert daily["Subject"].startswith("Papers digest 22 Nov 2026: ")
    assert (
        daily.get_body(("plain",))
        .get_content()
        .startswith("Your papers digest for Sunday 22 November 2026")
    )
    box = [PaperView(title="Moshi", abstract="Real-time dialogue.", matched=[], upvotes=80)]
    shown = Renderer().render(
        DigestView(
            "a@example.org", ["kv cache"], date(2026, 11, 22), box, "u", "p", box, weekly=True
        )
    )
    assert "Also trending this week" in shown.text and "Also trending this week" in shown.html


def test_a_preview_before_the_digest_is_due_says_when_it_goes_out(project: Project) -> None:
    """A weekly reader's preview on a Sunday looked like a digest going out that day."""
    project.ok("fetch", "--now", NOW)
    project.ok(
        "subscribers",
        "add",
        "wes@example.org",
        "--keywords",
        "kv cache",
        "--frequency",
        "weekly",
        "--weekly-day",
        "monday",
        "--timezone",
        "Asia/Tokyo",
    )
    weekly = project.ok("preview", "wes@example.org", "--now", NOW)  # Sunday 22 November
    assert weekly.out.startswith("Subject: Weekly papers digest")
    assert weekly.err == (
        "note: the next digest goes out Monday 23 November 2026 at 08:00 (Asia/Tokyo): this is "
        "what it would hold now\n"
    )
    due = project.ok("preview", "wes@example.org", "--now", "2026-11-23T00:00:00+00:00")
    assert due.err == ""  # 09:00 in Tokyo: due
