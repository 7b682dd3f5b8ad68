"""One-click feedback over real HTTP: vote links in sent digests, GET records nothing, POST
records, undo, replay, token misuse, and votes steering the next digest."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from conftest import Project, load_source
from sent_digest import NOW, PERSON, send_first_digest, vote_links
from web_forms import csrf_of


def votes(project: Project) -> list[tuple[Any, ...]]:
    return project.query("select paper_id, value, source from vote order by paper_id")


def test_every_paper_of_both_parts_has_vote_links(project: Project, web: Any) -> None:
    mail = send_first_digest(project)
    links = vote_links(mail)
    papers = project.query("select count(*) from delivery_item")[0][0]
    assert papers > 0 and len(links) == 2 * papers and len(set(links)) == len(links)
    html = mail.get_body(("html",)).get_content()
    assert html.count("/vote/") == 2 * papers and "More like this" in html


def test_get_records_nothing_post_records_replay_changes_nothing_undo_restores(
    project: Project, web: Any, client: httpx.Client
) -> None:
    more = vote_links(send_first_digest(project))[0]
    page = client.get(more)
    assert page.status_code == 200 and "More like this?" in page.text
    assert 'src="/static/autosubmit.js"' in page.text and "data-autosubmit" in page.text
    client.get(more)  # a scanner opening the link again
    assert votes(project) == []
    token = csrf_of(page)
    done = client.post(more, data={"csrf": token})
    assert done.status_code == 200 and "Undo" in done.text
    [(paper, value, source)] = votes(project)
    assert (value, source) == (1, "email")
    when = project.query("select created_at from vote")
    again = client.post(more, data={"csrf": token})
    assert again.status_code == 200
    assert votes(project) == [(paper, 1, "email")]
    assert project.query("select created_at from vote") == when
    undo = client.post(more, data={"csrf": token, "action": "undo", "previous": "0"})
    assert undo.status_code == 200 and "Undone" in undo.text
    assert votes(project) == []


def test_a_vote_link_of_earlier_emails_still_records_its_own_direction(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """Emails sent before links carried the direction in the path hold `v2.` tokens that name
    it themselves, at /vote/<token>: those links keep working until they expire."""
    from conftest import TEST_KEY

    from digest.subscriptions.tokens import _b64, _mac

    more = vote_links(send_first_digest(project))[0]
    base = more.split("/vote/")[0]
    [(public, version)] = project.query("select public_id, token_version from subscriber")
    [(paper,)] = project.query("select paper_id from delivery_item order by rank limit 1")
    [(created,)] = project.query("select created_at from delivery")
    issued = int(datetime.fromisoformat(str(created)).replace(tzinfo=UTC).timestamp())
    data = f"{public}.{version}.{issued}.-{paper}".encode()
    key = TEST_KEY.encode()
    old = f"{base}/vote/v2.{_b64(data)}.{_b64(_mac(key, 'vote', data, 'v2.'))}"
    page = client.get(old)
    assert page.status_code == 200 and "Less like this?" in page.text
    assert client.post(old, data={"csrf": csrf_of(page)}).status_code == 200
    assert votes(project) == [(paper, -1, "email")]


def test_a_later_vote_replaces_the_earlier_one(
    project: Project, web: Any, client: httpx.Client
) -> None:
    more, less = vote_links(send_first_digest(project))[:2]
    token = csrf_of(client.get(more))
    client.post(more, data={"csrf": token})
    client.post(less, data={"csrf": token})
    [(_, value, _)] = votes(project)
    assert value == -1


def test_post_without_csrf_is_refused(project: Project, web: Any, client: httpx.Client) -> None:
    more = vote_links(send_first_digest(project))[0]
    assert client.post(more, data={}).status_code == 403
    assert votes(project) == []


def test_forged_altered_wrong_purpose_expired_revoked_and_gone_links(
    project: Project, web: Any, client: httpx.Client
) -> None:
    mail = send_first_digest(project)
    more, less = vote_links(mail)[:2]
    token = csrf_of(client.get(more))
    base, value, direction = more.rsplit("/", 2)
    assert (direction, less) == ("more", f"{base}/{value}/less")  # one token, two links
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    unsubscribe = re.search(r"/unsubscribe/(\S+)", mail.get_body(("plain",)).get_content())
    assert unsubscribe
    bad_links = [f"{bad}/more" for bad in ("garbage", flipped, unsubscribe.group(1), "é" * 10)]
    bad_links += [f"{value}/sideways", value]  # no such direction; not an old-format token
    for bad in bad_links:
        for response in (
            client.get(f"{base}/{bad}"),
            client.post(f"{base}/{bad}", data={"csrf": token}),
        ):
            assert response.status_code == 400, bad
    web.clock.advance(days=61)
    assert client.get(more).status_code == 410
    assert client.post(more, data={"csrf": token}).status_code == 410
    web.clock.advance(days=-61)
    project.ok("subscribers", "edit", PERSON, "--revoke-links")
    assert client.post(more, data={"csrf": token}).status_code == 400
    assert votes(project) == []


def test_links_of_a_removed_paper_or_subscriber_answer_410(
    project: Project, web: Any, client: httpx.Client
) -> None:
    first, _, second = vote_links(send_first_digest(project))[:3]
    token = csrf_of(client.get(first))
    paper = project.query("select paper_id from delivery_item order by rank limit 1")[0][0]
    project.query(f"delete from delivery_item where paper_id = '{paper}'")
    project.query(f"delete from sighting where paper_id = '{paper}'")
    project.query(f"delete from paper where id = '{paper}'")
    gone = client.post(first, data={"csrf": token})
    assert gone.status_code == 410 and "no longer" in gone.text
    project.ok("subscribers", "remove", PERSON)
    assert client.post(second, data={"csrf": token}).status_code == 410
    assert votes(project) == []


def test_preferences_list_remove_and_seed_votes(
    project: Project, web: Any, client: httpx.Client
) -> None:
    mail = send_first_digest(project)
    more = vote_links(mail)[0]
    client.post(more, data={"csrf": csrf_of(client.get(more))})
    text = mail.get_body(("plain",)).get_content()
    match = re.search(r"(http://127\.0\.0\.1:\d+/preferences/\S+)", text)
    assert match
    prefs = match.group(1)
    page = client.get(prefs)
    [(liked, _, _)] = votes(project)
    title = project.query(f"select title from paper where id = '{liked}'")[0][0]
    assert "liked" in page.text and title[:30] in page.text
    token = csrf_of(page)
    removed = client.post(prefs, data={"csrf": token, "action": "unvote", "paper": liked})
    assert "Vote removed." in removed.text and votes(project) == []
    # pressed twice (a second tab, a double click): nothing to remove, and it says so
    again = client.post(prefs, data={"csrf": token, "action": "unvote", "paper": liked})
    assert "That paper had no vote: nothing changed." in again.text and votes(project) == []
    other = project.query("select id, title from paper order by id limit 1")[0]
    typed = "No Such Paper Title\narXiv:1111.11111"
    bad = client.post(prefs, data={"csrf": token, "action": "seed", "papers": typed})
    assert bad.status_code == 404 and "No Such Paper Title" in bad.text
    assert "digest papers" not in bad.text  # a command line hint means nothing to a reader
    assert "only papers that this service" in bad.text
    assert votes(project) == []
    # what was typed is not lost: it stays in the box, to be corrected
    assert _seed_box(bad.text) == typed
    # the papers found are liked; those not found are named and left in the box
    mixed = f"{other[1]}\nNo Such Paper Title"
    some = client.post(prefs, data={"csrf": token, "action": "seed", "papers": mixed})
    assert some.status_code == 200 and "Added 1 paper" in some.text
    assert "Not in the history: &#39;No Such Paper Title&#39;" in some.text
    assert _seed_box(some.text) == "No Such Paper Title"
    assert votes(project) == [(other[0], 1, "seed")]
    ok = client.post(prefs, data={"csrf": token, "action": "seed", "papers": other[1]})
    assert ok.status_code == 200 and "Added 1 paper" in ok.text and _seed_box(ok.text) == ""
    assert votes(project) == [(other[0], 1, "seed")]
    # part of one title: that whole title is put in the box, to confirm; nothing liked yet
    part = "native AND offloadable"
    guess = client.post(prefs, data={"csrf": token, "action": "seed", "papers": part})
    assert guess.status_code == 404 and "The whole title it matches is in the box" in guess.text
    assert _seed_box(guess.text) == "NOSA: Native and Offloadable Sparse Attention"
    assert votes(project) == [(other[0], 1, "seed")]


def _seed_box(page: str) -> str:
    """What the preferences page's "papers you already like" box holds."""
    match = re.search(r'<textarea id="papers"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "the page has the box"
    return html.unescape(match.group(1))


def test_cli_feedback_show_and_bad_ids(project: Project) -> None:
    project.ok("fetch", "--now", NOW)
    project.ok("subscribers", "add", PERSON, "--keywords", "kv cache")
    ids = [row[0] for row in project.query("select id from paper order by id limit 3")]
    done = project.ok("subscribers", "feedback", PERSON, "--like", ids[0], "--dislike", ids[1])
    assert "liked 1" in done.out and "disliked 1" in done.out
    assert votes(project) == [(ids[0], 1, "cli"), (ids[1], -1, "cli")]
    shown = project.ok("subscribers", "show", PERSON).out
    assert f"like     {ids[0]}" in shown and f"dislike  {ids[1]}" in shown
    project.ok("subscribers", "feedback", PERSON, "--dislike", ids[0], "--clear", ids[1])
    assert votes(project) == [(ids[0], -1, "cli")]
    for bad in ("arxiv:9999.99999", "no-such-thing"):
        failed = project.cli("subscribers", "feedback", PERSON, "--like", ids[2], "--like", bad)
        assert failed.code == 1 and bad in failed.err and len(failed.err.splitlines()) == 1
    assert votes(project) == [(ids[0], -1, "cli")]
    # one paper liked and disliked at once: which was meant cannot be guessed
    for command in (["subscribers", "feedback", PERSON], ["rank", "--keywords", "kv cache"]):
        both = project.cli(*command, "--like", ids[2], "--dislike", f" {ids[2]} ")
        assert both.code == 1 and both.out == ""
        assert f"{ids[2]} (" in both.err and "given to both --like and --dislike" in both.err
    assert votes(project) == [(ids[0], -1, "cli")]
    project.ok("subscribers", "remove", PERSON)
    assert votes(project) == []


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        ("arXiv:2605.05242", "arxiv:2605.05242"),  # the citation form
        ("ARXIV: 2605.05242v2", "arxiv:2605.05242"),
        ("2605.05242v3", "arxiv:2605.05242"),
        ("arxiv.org/abs/2605.05242", "arxiv:2605.05242"),
        ("https://arxiv.org/pdf/2605.05242v2.pdf", "arxiv:2605.05242"),
        ("https://arxiv.org/html/2605.05242v1", "arxiv:2605.05242"),
        ("http://export.arxiv.org/abs/2605.05242", "arxiv:2605.05242"),
        ("https://www.arxiv.org/abs/2605.05242?context=cs#", "arxiv:2605.05242"),
        ("<https://arxiv.org/abs/2605.05242>", "arxiv:2605.05242"),
        ("https://huggingface.co/papers/2605.05242", "arxiv:2605.05242"),
        ("https://doi.org/10.48550/arXiv.2605.05242", "arxiv:2605.05242"),
        ("doi:10.48550/arXiv.2605.05242", "arxiv:2605.05242"),
        ("https://arxiv.org/abs/hep-th/9901001v2", "arxiv:hep-th/9901001"),
        ("Math.ag/0101001", "arxiv:math.AG/0101001"),
        ("title:5f1e2d3c4b5a6978", "title:5f1e2d3c4b5a6978"),
        # a citation, and an arXiv page's title, copied whole
        ("Okonkwo et al. Capacity-aware routing. arXiv:2605.05242, 2026.", "arxiv:2605.05242"),
        ("[2605.05242] Capacity-Aware Routing for Sparse Mixture-of-Experts", "arxiv:2605.05242"),
        ("arXiv:2605.05242v1 [cs.LG] 7 May 2026", "arxiv:2605.05242"),
        ("compare arXiv:2605.05242 with arXiv:2605.04871", None),  # which one?
        ("Routing 2605.05242 Experts", None),  # digits in a title name nothing
        ("https://example.org/abs/2605.05242", None),  # another site: a title, then
        ("https://arxiv.org.example.org/abs/2605.05242", None),
        ("arxiv:not-an-id", None),
        ("Attention Is All You Need", None),
    ],
)
def test_paper_references_as_people_paste_them(ref: str, key: str | None) -> None:
    from digest.subscriptions.votes import paper_key

    assert paper_key(ref) == key


def test_cli_feedback_takes_arxiv_citations_and_links(project: Project) -> None:
    listing = project.root / "hf.json"
    listing.write_bytes(load_source("hf_api_daily.json"))
    project.ok("fetch", str(listing), "--kind", "auto", "--now", NOW)
    project.ok("subscribers", "add", PERSON, "--keywords", "mixture of experts")
    for ref in ("arXiv:2605.05242", "https://arxiv.org/pdf/2605.05242v1"):
        project.ok("subscribers", "feedback", PERSON, "--like", ref)
        assert votes(project) == [("arxiv:2605.05242", 1, "cli")]
    failed = project.cli("subscribers", "feedback", PERSON, "--like", "arXiv:2605.99999")
    assert failed.code == 1 and "'arXiv:2605.99999' in the history" in failed.err


def test_cli_feedback_takes_a_whole_title_and_papers_search_finds_one(project: Project) -> None:
    """As the preferences page takes them: a title, in any case and punctuation; words of
    one are refused with the command that finds the paper, nothing stored."""
    project.ok("fetch", "--now", NOW)
    project.ok("subscribers", "add", PERSON, "--keywords", "kv cache")
    found = project.ok("papers", "--search", "Offloadable SPARSE attention", "--json").out
    [paper] = json.loads(found)
    assert paper["title"] == "NOSA: Native and Offloadable Sparse Attention"
    failed = project.cli("subscribers", "feedback", PERSON, "--like", "Native and Offloadable")
    assert failed.code == 1 and "no paper has the id or title 'Native and Offloadable'" in (
        failed.err
    )
    assert "did you mean 'NOSA: Native and Offloadable Sparse Attention'?" in failed.err
    assert votes(project) == []
    several = project.cli("subscribers", "feedback", PERSON, "--like", "sparse attention")
    assert several.code == 1 and "`digest papers --search WORDS`" in several.err
    project.ok("subscribers", "feedback", PERSON, "--like", "nosa - native and offloadable "
               "sparse attention")  # fmt: skip
    assert votes(project) == [(paper["id"], 1, "cli")]
    nothing = project.cli("papers", "--search", "100%_sure")  # LIKE's wildcards are plain text
    assert (
        nothing.code == 0 and nothing.out == "" and "no paper in the history has" in (nothing.err)
    )


def test_cli_rank_with_likes_and_bad_like(project: Project) -> None:
    project.ok("fetch", "--now", NOW)

    plain = json.loads(project.ok("rank", "--keywords", "kv cache", "--json").out)
    assert plain and {"id", "title", "score", "matched"} <= set(plain[0])
    galaxy = project.query(
        "select id from paper where lower(title) like '%galax%' order by id limit 2"
    )
    liked = [row[0] for row in galaxy]
    args = [a for pid in liked for a in ("--like", pid)]
    with_likes = json.loads(
        project.ok("rank", "--keywords", "kv cache", *args, "--top", "15", "--json").out
    )
    assert any(row["similar_to"] in liked for row in with_likes)
    failed = project.cli("rank", "--keywords", "kv cache", "--like", "arxiv:0000.00000")
    assert failed.code == 1 and "arxiv:0000.00000" in failed.err


def test_vote_tokens_round_trip_refuse_tampering_and_still_read_older_formats() -> None:
    from itsdangerous import URLSafeSerializer

    from digest.errors import LinkError
    from digest.subscriptions.tokens import (
        _b64,
        _mac,
        _serializer,
        make_token,
        make_vote_token,
        read_token,
        read_vote_token,
    )

    key, public = b"k" * 32, "A" * 22
    token = make_vote_token(key, public, 3, 1000, "arxiv:2401.12345")
    read = read_vote_token(key, token, now=1000, max_age=60, value=-1)
    assert (read.subscriber, read.version, read.issued, read.paper_id, read.value) == (
        public,
        3,
        1000,
        "arxiv:2401.12345",
        -1,
    )
    assert read_vote_token(key, token, now=1000, max_age=60, value=1).value == 1
    body, mac = token.removeprefix("v3.").split(".")
    other = make_vote_token(key, public, 3, 1000, "arxiv:2401.12346").split(".")[2]
    bad_tokens = [
        f"v3.{body}.{other}",
        f"v3.{body}x.{mac}",
        "v3.x",
        token + "A",
        f"v2.{body}.{mac}",
    ]
    bad_tokens.append(make_token(key, "preferences", public, 3, 1000))  # another purpose
    for bad in bad_tokens:
        with pytest.raises(LinkError):
            read_vote_token(key, bad, now=1000, max_age=60, value=1)
    with pytest.raises(LinkError):
        read_vote_token(b"other key", token, now=1000, max_age=60, value=1)
    # a 16-byte MAC leaves 4 unused bits in its last character: other spellings are refused
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = [
        c
        for c in alphabet
        if c != mac[-1] and alphabet.index(c) >> 4 == alphabet.index(mac[-1]) >> 4
    ]
    assert len(same_bytes) == 15
    for c in same_bytes:
        with pytest.raises(LinkError):
            read_vote_token(key, f"v3.{body}.{mac[:-1]}{c}", now=1000, max_age=60, value=1)
    with pytest.raises(LinkError):  # a current token on an old-format link names no direction
        read_vote_token(key, token, now=1000, max_age=60)
    # links of earlier emails: v2 (HMAC-SHA256, the direction inside), and itsdangerous before
    data = f"{public}.3.1000.-arxiv:2".encode()
    v2 = f"v2.{_b64(data)}.{_b64(_mac(key, 'vote', data, 'v2.'))}"
    assert read_vote_token(key, v2, now=1000, max_age=60).paper_id == "arxiv:2"
    assert read_vote_token(key, v2, now=1000, max_age=60).value == -1
    old = _serializer(key, "vote").dumps([public, 3, 1000, "arxiv:1", 1])
    assert isinstance(_serializer(key, "vote"), URLSafeSerializer)
    assert read_vote_token(key, old, now=1000, max_age=60).paper_id == "arxiv:1"
    last = alphabet.index(old[-1])
    with pytest.raises(LinkError):  # a 32-byte MAC: the last character's 2 low bits are unused
        read_vote_token(key, old[:-1] + alphabet[last ^ 1], now=1000, max_age=60)
    data = f"{public}.3.0".encode()
    v2 = f"v2.{_b64(data)}.{_b64(_mac(key, 'preferences', data, 'v2.'))}"
    assert read_token(key, "preferences", v2, now=1000).subscriber == public
    with pytest.raises(LinkError):
        read_token(key, "unsubscribe", v2, now=1000)
